"""Database restart mid-sale: the test's own PostgreSQL cluster is stopped
(`pg_ctl stop -m immediate`, every backend dies at once) while buyers are
buying, and started again. During the outage `/healthz` and the purchase
endpoint answer 503 in JSON within 5 s; afterwards every buyer ends with
exactly one purchase, completed, and no client ever sees a 500.
"""

import time

import pytest

from tests.faults.audit import explain, sale_verdict, unfinished
from tests.faults.buyers import Answer, Sale, http

pytestmark = pytest.mark.slow

BUYERS = 40
SEATS = 100
ACCEPTED_BEFORE_FAULT = 10
MIN_OUTAGE_SECONDS = 3.0
OUTAGE_ANSWER_WITHIN_SECONDS = 5.0


def outage_problems(health: Answer, purchase: Answer) -> list[str]:
    """How the two probes sent while the database was down fell short."""
    problems = []
    for name, answer in (("/healthz", health), ("purchase create", purchase)):
        if answer.status != 503 or not answer.is_json:
            problems.append(f"{name} during the outage: {answer.describe()}, not a 503 in JSON")
        if answer.elapsed > OUTAGE_ANSWER_WITHIN_SECONDS:
            problems.append(f"{name} during the outage took {answer.elapsed:.1f}s")
    if health.is_json and health.json().get("checks", {}).get("database") == "ok":
        problems.append(f"/healthz does not name the database as down: {health.describe()}")
    if purchase.status == 503:
        if not purchase.is_json or not {"detail", "code"} <= set(purchase.json()):
            problems.append(f"purchase 503 is not the error shape: {purchase.describe()}")
        if "retry-after" not in purchase.headers:
            problems.append("purchase 503 has no Retry-After")
    return problems


def test_database_stopped_and_started_mid_sale_loses_no_buyer(
    private_postgres, private_redis, stack
):
    redis_server = private_redis("redis")
    started = time.monotonic()
    app = stack(
        database_url=private_postgres.database_url,
        redis_url=redis_server.url(),
        gateway_redis_url=redis_server.url(),
    )
    ticket_id = app.seed_ticket(seats=SEATS)
    ready = time.monotonic()

    sale = Sale(app.url, ticket_id, buyers=BUYERS, stagger=0.15, seconds=45).start()
    sale.wait_for_accepted(ACCEPTED_BEFORE_FAULT, timeout=30)
    accepted_at_fault = sale.accepted
    in_flight = unfinished(private_postgres.database_url, ticket_id)
    private_postgres.stop_immediately()
    outage_began = time.monotonic()
    health = http("GET", f"{app.url}/healthz", timeout=15)
    probe = {
        "ticket_id": ticket_id,
        "quantity": 1,
        "customer_name": "Outage Probe",
        "customer_email": "probe@fault.example.com",
        "payment_method": "card",
        "payment_token": "tok_success",
    }
    purchase = http(
        "POST",
        f"{app.url}/api/tickets/purchase/direct/",
        probe,
        {"Idempotency-Key": "fault-outage-probe"},
        timeout=15,
    )
    time.sleep(max(0.0, MIN_OUTAGE_SECONDS - (time.monotonic() - outage_began)))
    private_postgres.start()
    outage = time.monotonic() - outage_began
    sale.join()
    sold = time.monotonic()

    problems = outage_problems(health, purchase)
    sale_problems, settled_in = sale_verdict(
        stack=app,
        sale=sale,
        database_url=private_postgres.database_url,
        gateway_redis_url=redis_server.url(),
        ticket_id=ticket_id,
    )
    problems += sale_problems
    print(
        f"\ndatabase restart: stack up in {ready - started:.1f}s, {accepted_at_fault} accepted "
        f"({in_flight} in flight) before the stop, outage {outage:.1f}s (/healthz answered "
        f"{health.status} in {health.elapsed:.2f}s, purchase {purchase.status} in "
        f"{purchase.elapsed:.2f}s), "
        f"sale over in {sold - ready:.1f}s, settled in {settled_in:.1f}s; "
        f"answers: {sale.answer_summary()}"
    )
    assert accepted_at_fault < BUYERS, "every buyer was served before the fault: it proved nothing"
    assert in_flight, "no purchase was in flight when the fault struck: it proved nothing"
    assert not problems, explain(problems, sale)
