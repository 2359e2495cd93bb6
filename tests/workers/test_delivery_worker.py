"""The batched mailer end to end: the delivery doorbell -> the Redis broker -> a
real Celery worker consuming the `delivery` queue -> a real SMTP server."""

import pytest

from tests.factories import PurchaseFactory, TicketFactory
from tests.mailbox import Mailbox
from tests.waiting import wait_for
from tests.worker_process import purge_queues
from tickets.codes import codes_issue_many
from tickets.delivery import mailer as delivery
from tickets.models import PurchaseEvent, TicketPurchase
from workers.celery import app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mailbox():
    """An SMTP server on loopback."""
    box = Mailbox().start()
    yield box
    box.stop()


def test_confirmed_purchases_rung_through_the_doorbell_end_completed(mailbox, start_worker):
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

    purge_queues(app)  # nothing an earlier test left is there to answer the doorbell
    rang = [delivery.delivery_ring() for _ in range(3)]
    # One message for the lot: no worker runs yet, so none has answered the doorbell
    # between the rings (a worker that had would rightly be rung again).
    assert rang == [True, False, False]
    # It consumes `delivery` and mails to the mailbox; the rung message is waiting.
    start_worker("mailer", concurrency=2, extra_env={"EMAIL_URL": mailbox.url}, purge=False)

    waiting = TicketPurchase.objects.filter(status=TicketPurchase.Status.CONFIRMED)
    wait_for(lambda: not waiting.exists(), timeout=30)
    assert TicketPurchase.objects.filter(status=TicketPurchase.Status.COMPLETED).count() == 30
    wait_for(lambda: len(mailbox.messages) >= 30, timeout=10)
    assert sorted(message["To"] for message in mailbox.messages) == sorted(
        purchase.customer_email for purchase in purchases
    )
    actors = set(PurchaseEvent.objects.filter(action="delivered").values_list("actor", flat=True))
    assert actors == {f"task {delivery.DELIVER_BATCH_TASK}"}
