"""Broker restart mid-sale: the Redis that carries the task messages is killed
(SIGKILL, nothing persisted) while buyers are buying, and a new, empty one is
started on the same port. Every message it held is gone, so only the database
says what must happen next: every buyer still ends with exactly one purchase,
completed, and no client ever sees a 500.

The simulated gateway keeps its state in a second Redis that stays up: a real
payment processor lives outside our infrastructure.
"""

import time

import pytest

from tests.faults.audit import explain, sale_verdict, unfinished
from tests.faults.buyers import Sale

pytestmark = pytest.mark.slow

BUYERS = 40
SEATS = 100
ACCEPTED_BEFORE_FAULT = 10
BROKER_DOWN_SECONDS = 1.5


def test_broker_killed_and_restarted_mid_sale_loses_no_buyer(
    private_postgres, private_redis, stack
):
    broker = private_redis("broker")
    gateway = private_redis("gateway")
    started = time.monotonic()
    app = stack(
        database_url=private_postgres.database_url,
        redis_url=broker.url(),
        gateway_redis_url=gateway.url(),
    )
    ticket_id = app.seed_ticket(seats=SEATS)
    ready = time.monotonic()

    sale = Sale(app.url, ticket_id, buyers=BUYERS, stagger=0.15, seconds=45).start()
    sale.wait_for_accepted(ACCEPTED_BEFORE_FAULT, timeout=30)
    accepted_at_fault = sale.accepted
    in_flight = unfinished(private_postgres.database_url, ticket_id)
    broker.kill()
    time.sleep(BROKER_DOWN_SECONDS)
    broker.start()
    sale.join()
    sold = time.monotonic()

    problems, settled_in = sale_verdict(
        stack=app,
        sale=sale,
        database_url=private_postgres.database_url,
        gateway_redis_url=gateway.url(),
        ticket_id=ticket_id,
    )
    print(
        f"\nbroker restart: stack up in {ready - started:.1f}s, {accepted_at_fault} accepted "
        f"({in_flight} in flight) before the kill, sale over in {sold - ready:.1f}s, "
        f"settled in {settled_in:.1f}s; answers: {sale.answer_summary()}"
    )
    assert accepted_at_fault < BUYERS, "every buyer was served before the fault: it proved nothing"
    assert in_flight, "no purchase was in flight when the fault struck: it proved nothing"
    assert not problems, explain(problems, sale)
