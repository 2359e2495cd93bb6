"""RabbitMQ as the broker (CELERY_BROKER_URL=amqp://...): gunicorn publishes
and a real worker consumes through the RabbitMQ this machine runs
(127.0.0.1:5672, guest/guest), with publisher confirms; a purchase completes
with its e-mail, and one whose processor keeps failing is retried with its
countdowns until the worker gives up, as on Redis; the queues the worker
declares are durable classic queues (docs/brokers.md says why not quorum).
Skipped, saying so, where no RabbitMQ answers."""

import pytest
import requests
from amqp.exceptions import PreconditionFailed
from kombu import Connection

from tests.factories import TicketFactory, purchase_request
from tests.rabbitmq import URL, rabbitmq_answers
from tests.waiting import describe, wait_until_final
from tests.worker_process import WORKER_QUEUES, WebServer
from tickets.models import TicketPurchase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RABBITMQ = {"CELERY_BROKER_URL": URL}


@pytest.fixture
def on_rabbitmq(start_worker):
    if not rabbitmq_answers():
        pytest.skip(f"no RabbitMQ answers at {URL}")
    with Connection(URL) as conn:
        for name in WORKER_QUEUES:
            # Gone with what they held (a purge), so the worker declares them anew.
            conn.channel().queue_delete(name)
    worker = start_worker("rabbit", extra_env=RABBITMQ, purge=False)
    web = WebServer(extra_env=RABBITMQ).start()
    yield web, worker
    web.stop()


def test_purchases_and_retries_go_through_rabbitmq_on_durable_classic_queues(on_rabbitmq):
    """One worker for both checks: each start of one costs seconds of `make test`."""
    web, worker = on_rabbitmq
    assert requests.get(f"{web.url}/healthz", timeout=10).json()["checks"] == {
        "database": "ok",
        "broker": "ok",
    }
    ticket = TicketFactory(total_quantity=5)
    ids = []
    for n, token in enumerate(["tok_success", "tok_error"]):
        body = purchase_request(ticket, customer_email=f"r{n}@example.com", payment_token=token)
        response = requests.post(f"{web.url}/api/tickets/purchase/direct/", json=body, timeout=10)
        assert response.status_code == 202, response.text
        ids.append(response.json()["purchase_id"])

    paid, failing = wait_until_final(ids, timeout=60)
    paid, failing = (paid, failing) if str(paid.pk) == ids[0] else (failing, paid)

    assert paid.status == TicketPurchase.Status.COMPLETED, describe(paid)
    assert paid.codes.count() == 1
    assert (failing.status, failing.failure_reason) == ("failed", "payment_error"), describe(
        failing
    )
    # Its task came back from RabbitMQ after each countdown before giving up.
    assert worker.output().count("Retry in") >= 2, worker.output()[-3000:]

    # The queues the worker declared are durable and classic: RabbitMQ refuses
    # a declaration unlike a queue's own.
    def declare(name: str, **options) -> None:
        with Connection(URL) as conn:  # a refused declaration closes its channel
            conn.channel().queue_declare(queue=name, auto_delete=False, **options)

    for name in WORKER_QUEUES:
        with Connection(URL) as conn:  # NOT_FOUND, had the worker not declared it
            conn.channel().queue_declare(queue=name, passive=True)
        declare(name, durable=True, arguments={"x-queue-type": "classic"})
        with pytest.raises(PreconditionFailed, match="durable"):
            declare(name, durable=False)
        with pytest.raises(PreconditionFailed, match="x-queue-type"):
            declare(name, durable=True, arguments={"x-queue-type": "quorum"})
