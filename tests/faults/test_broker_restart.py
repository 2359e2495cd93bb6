"""Broker restart mid-sale: the broker that carries the task messages is killed
(SIGKILL) while buyers are buying and started again on the same port. Every
buyer still ends with exactly one purchase, completed, and no client ever sees
a 500.

- Redis: nothing persisted, so the new one is empty: every message it held is
  gone and only the database says what must happen next.
- RabbitMQ (a private node, CELERY_BROKER_URL=amqp://...): back on the same
  data, with its durable queues and what it had confirmed; the messages the
  worker held unacknowledged come back. Redis stays up for results and caps.

The simulated gateway keeps its state in a Redis that stays up: a real payment
processor lives outside our infrastructure.
"""

import time

import pytest
from django.conf import settings

from project.celery_settings import broker_kind
from tests.faults.audit import explain, sale_verdict, unfinished
from tests.faults.buyers import Sale

pytestmark = pytest.mark.slow

BUYERS = 40
SEATS = 100
ACCEPTED_BEFORE_FAULT = 10
BROKER_DOWN_SECONDS = 1.5


# About 40 s (a RabbitMQ node boots twice): in the RabbitMQ pass, not in `make test`.
ON_RABBITMQ = pytest.param(
    "rabbitmq",
    marks=[
        pytest.mark.rabbitmq,
        pytest.mark.skipif(
            broker_kind(settings.CELERY_BROKER_URL) != "amqp",
            reason="the RabbitMQ pass runs it: make test-rabbitmq",
        ),
    ],
)


@pytest.mark.parametrize("kind", ["redis", ON_RABBITMQ])
def test_broker_killed_and_restarted_mid_sale_loses_no_buyer(
    kind, private_postgres, private_redis, private_rabbitmq, stack
):
    started = time.monotonic()
    redis_server = private_redis("broker" if kind == "redis" else "redis")
    broker = redis_server if kind == "redis" else private_rabbitmq()
    gateway = private_redis("gateway")
    app = stack(
        database_url=private_postgres.database_url,
        redis_url=redis_server.url(),
        gateway_redis_url=gateway.url(),
        broker_url=broker.url() if kind == "rabbitmq" else "",
    )
    ticket_id = app.seed_ticket(seats=SEATS)
    ready = time.monotonic()

    sale = Sale(app.url, ticket_id, buyers=BUYERS, stagger=0.15, seconds=45).start()
    sale.wait_for_accepted(ACCEPTED_BEFORE_FAULT, timeout=30)
    accepted_at_fault = sale.accepted
    in_flight = unfinished(private_postgres.database_url, ticket_id)
    down_at = time.monotonic()
    broker.kill()
    time.sleep(BROKER_DOWN_SECONDS)
    broker.start()  # RabbitMQ takes some seconds more to boot: a longer outage
    back = time.monotonic()
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
        f"\n{kind} broker restart: stack up in {ready - started:.1f}s, {accepted_at_fault} "
        f"accepted ({in_flight} in flight) before the kill, broker back after "
        f"{back - down_at:.1f}s, sale over in {sold - ready:.1f}s, "
        f"settled in {settled_in:.1f}s; answers: {sale.answer_summary()}"
    )
    assert accepted_at_fault < BUYERS, "every buyer was served before the fault: it proved nothing"
    assert in_flight, "no purchase was in flight when the fault struck: it proved nothing"
    assert not problems, explain(problems, sale)
