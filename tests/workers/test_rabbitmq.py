"""RabbitMQ as the broker (CELERY_BROKER_URL=amqp://...): gunicorn publishes
and a real worker consumes through the RabbitMQ this machine runs
(127.0.0.1:5672, guest/guest), with publisher confirms; a purchase completes
with its e-mail, and one whose processor keeps failing is retried with its
countdowns until the worker gives up, as on Redis.
Skipped, saying so, where no RabbitMQ answers."""

import pytest
import requests

from tests.factories import TicketFactory, purchase_request
from tests.rabbitmq import URL, rabbitmq_answers
from tests.waiting import describe, wait_until_final
from tests.worker_process import WebServer
from tickets.models import TicketPurchase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RABBITMQ = {"CELERY_BROKER_URL": URL}


@pytest.fixture
def on_rabbitmq(start_worker):
    if not rabbitmq_answers():
        pytest.skip("no RabbitMQ answers on 127.0.0.1:5672")
    worker = start_worker("rabbit", extra_env=RABBITMQ)
    web = WebServer(extra_env=RABBITMQ).start()
    yield web, worker
    web.stop()


def test_purchases_complete_through_rabbitmq_retries_included(on_rabbitmq):
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
