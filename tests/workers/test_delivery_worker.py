"""The batched mailer end to end: the delivery doorbell -> the Redis broker -> a
real Celery worker consuming the `delivery` queue -> a real SMTP server."""

import email
import logging
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller

from devtools.embedded_redis import free_port
from tests.factories import PurchaseFactory, TicketFactory
from tests.waiting import wait_for
from tickets.codes import codes_issue_many
from tickets.delivery import mailer as delivery
from tickets.models import PurchaseEvent, TicketPurchase

pytestmark = pytest.mark.django_db(transaction=True)

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted for delivery"


@pytest.fixture
def mailer(start_worker):
    """An SMTP server on loopback and a worker (it consumes `delivery`) that mails to it."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    worker = start_worker(
        "mailer", concurrency=2, extra_env={"EMAIL_URL": f"smtp://127.0.0.1:{controller.port}"}
    )
    yield inbox
    worker.stop()
    controller.stop()


def test_confirmed_purchases_rung_through_the_doorbell_end_completed(mailer):
    ticket = TicketFactory(total_quantity=100)
    purchases = [
        PurchaseFactory(
            ticket=ticket,
            quantity=1 + i % 2,
            status=TicketPurchase.Status.CONFIRMED,
            payment_status=TicketPurchase.PaymentStatus.COMPLETED,
            inventory_reserved=True,
        )
        for i in range(30)
    ]
    codes_issue_many(purchases)

    rang = [delivery.delivery_ring() for _ in range(3)]
    assert rang == [True, False, False]  # one message for the lot

    waiting = TicketPurchase.objects.filter(status=TicketPurchase.Status.CONFIRMED)
    wait_for(lambda: not waiting.exists(), timeout=30)
    assert TicketPurchase.objects.filter(status=TicketPurchase.Status.COMPLETED).count() == 30
    wait_for(lambda: len(mailer.messages) >= 30, timeout=10)
    assert sorted(message["To"] for message in mailer.messages) == sorted(
        purchase.customer_email for purchase in purchases
    )
    actors = set(PurchaseEvent.objects.filter(action="delivered").values_list("actor", flat=True))
    assert actors == {f"task {delivery.DELIVER_BATCH_TASK}"}
