"""The batched mailer end to end: the delivery doorbell -> the Redis broker -> a
real Celery worker consuming the `delivery` queue -> a real SMTP server."""

import pytest

from tests.factories import PurchaseFactory, TicketFactory
from tests.mailbox import Mailbox
from tests.waiting import wait_for
from tickets.codes import codes_issue_many
from tickets.delivery import mailer as delivery
from tickets.models import PurchaseEvent, TicketPurchase

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mailer(start_worker):
    """An SMTP server on loopback and a worker (it consumes `delivery`) that mails to it."""
    mailbox = Mailbox().start()
    worker = start_worker("mailer", concurrency=2, extra_env={"EMAIL_URL": mailbox.url})
    yield mailbox
    worker.stop()
    mailbox.stop()


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
