"""Nothing lost, no money kept without a ticket (issue 10), at the service level:
late captures, the refund's own state, poisoned rows, and the sweeps that find
every waiting state again."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from kombu.exceptions import OperationalError

from gateways.simulated import SimulatedGateway
from project import queue
from project.tasks import PROCESS_TASK, REFUND_TASK
from tests.factories import PurchaseFactory, TicketFactory
from tickets.delivery.mailer import DELIVER_BATCH_TASK, DOORBELL_KEY
from tickets.delivery.services import purchase_deliver
from tickets.errors import RefundRefused
from tickets.models import Ticket, TicketCode, TicketPurchase
from tickets.refunds import services as refunds
from tickets.refunds.services import purchase_refund, purchase_refund_finish
from tickets.sale import payment
from tickets.sale.payment import purchase_confirm, purchase_process, purchase_reconcile_payment
from tickets.sale.purchases import (
    purchase_cancel,
    purchase_expire,
    purchase_reserve,
    purchase_submit_payment,
    purchases_expire_due,
)
from tickets.sale.sweeps import (
    purchases_finish_refunds,
    purchases_requeue_undelivered,
    purchases_requeue_waiting,
)

pytestmark = pytest.mark.django_db

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


def seats_left(ticket: Ticket) -> int:
    ticket.refresh_from_db()
    return ticket.available_quantity


def held_without_token(quantity: int = 2, total: int = 10) -> TicketPurchase:
    """A reserved purchase waiting for `complete/` (or the gateway's callback)."""
    purchase = PurchaseFactory(
        ticket=TicketFactory(total_quantity=total), quantity=quantity, payment_token=""
    )
    return purchase_reserve(purchase_id=purchase.pk)


def gateway_captures(purchase: TicketPurchase) -> None:
    """The gateway settles the payment its own way (a late callback)."""
    SimulatedGateway().record(
        idempotency_key=str(purchase.pk),
        amount=purchase.total_amount,
        currency=purchase.currency,
        succeed=True,
    )


def later(seconds: int):
    return time_machine.travel(timezone.now() + timedelta(seconds=seconds))


# --- late captures -------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["expired", "cancelled"])
def test_a_capture_after_the_purchase_ended_is_refunded_and_recorded(ending):
    purchase = held_without_token()
    if ending == "expired":
        with later(3600):
            purchase_expire(purchase_id=purchase.pk)
    else:
        purchase_cancel(purchase_id=purchase.pk)
    gateway_captures(purchase)

    purchase_reconcile_payment(purchase_id=purchase.pk)

    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_status) == (ending, "refunded")
    assert purchase.refund_reason == f"captured_after_{ending}"
    assert purchase.refunded_at is not None
    assert SimulatedGateway().lookup(idempotency_key=str(purchase.pk)).outcome == "refunded"
    assert seats_left(purchase.ticket) == 10 and not purchase.codes.exists()
    # Asked again (a redelivered callback): nothing more happens.
    purchase_reconcile_payment(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert purchase.payment_status == "refunded"


def test_a_capture_for_a_purchase_that_failed_sold_out_is_refunded():
    ticket = TicketFactory(total_quantity=1)
    purchase = PurchaseFactory(ticket=ticket, quantity=2, payment_token="")
    gateway_captures(purchase)
    purchase_reconcile_payment(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert (purchase.status, purchase.failure_reason) == ("failed", "sold_out")
    assert (purchase.payment_status, purchase.refund_reason) == (
        "refunded",
        "captured_after_failed",
    )


def test_a_late_capture_while_the_purchase_still_holds_its_seats_confirms_it():
    purchase = held_without_token(quantity=2, total=10)
    gateway_captures(purchase)
    purchase_reconcile_payment(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_status) == ("confirmed", "completed")
    assert purchase.codes.count() == 2 and purchase.refund_reason == ""
    assert seats_left(purchase.ticket) == 8


def test_a_capture_racing_the_expiry_is_refunded_not_kept(monkeypatch):
    """The gateway said "captured", but the expiry sweep ended the hold before
    the confirm took its lock: the confirm is refused and the money goes back."""
    purchase = held_without_token()
    gateway_captures(purchase)
    real_confirm = purchase_confirm

    def expire_first(**kwargs):
        with later(3600):
            purchase_expire(purchase_id=purchase.pk)
        return real_confirm(**kwargs)

    monkeypatch.setattr(payment, "purchase_confirm", expire_first)
    purchase_reconcile_payment(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_status) == ("expired", "refunded")


# --- refunds survive a crash ---------------------------------------------------------------


def paid_purchase(quantity: int = 2, total: int = 10) -> TicketPurchase:
    purchase = PurchaseFactory(ticket=TicketFactory(total_quantity=total), quantity=quantity)
    purchase_process(purchase_id=purchase.pk)
    return purchase_deliver(purchase_id=purchase.pk)


def crash_after_refund_decided(purchase: TicketPurchase, monkeypatch) -> None:
    """Runs a staff refund that dies after its first transaction (void codes,
    `refund_pending`) and before the gateway is asked: like a killed process."""

    class Killed(BaseException):
        pass

    def die(**kwargs):
        raise Killed

    with monkeypatch.context() as patched, pytest.raises(Killed):
        patched.setattr(refunds, "purchase_refund_finish", die)
        purchase_refund(purchase_id=purchase.pk)


def test_a_refund_interrupted_after_voiding_is_finished_by_the_sweep(
    monkeypatch, published, django_capture_on_commit_callbacks
):
    purchase = paid_purchase(quantity=2, total=10)
    crash_after_refund_decided(purchase, monkeypatch)
    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_status) == ("completed", "refund_pending")
    assert set(purchase.codes.values_list("status", flat=True)) == {"void"}

    with later(120), django_capture_on_commit_callbacks(execute=True):
        assert purchases_finish_refunds() == 1
    assert published.ids(REFUND_TASK) == [str(purchase.pk)]
    purchase_refund_finish(purchase_id=purchase.pk)  # what the task runs

    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_status) == ("refunded", "refunded")
    assert seats_left(purchase.ticket) == 10
    assert SimulatedGateway().lookup(idempotency_key=str(purchase.pk)).outcome == "refunded"


def test_a_refund_the_gateway_refuses_on_resume_makes_the_codes_valid_again(monkeypatch):
    purchase = paid_purchase(quantity=2, total=10)
    crash_after_refund_decided(purchase, monkeypatch)
    SimulatedGateway().redis.delete(f"simgw:charge:{purchase.pk}")  # the gateway forgot it
    with pytest.raises(RefundRefused):
        purchase_refund_finish(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_status) == ("completed", "completed")
    assert set(purchase.codes.values_list("status", flat=True)) == {TicketCode.Status.VALID}
    assert seats_left(purchase.ticket) == 8


# --- one bad row stops nothing -------------------------------------------------------------


def test_a_poisoned_purchase_does_not_keep_the_others_from_expiring(caplog):
    good = [held_without_token(quantity=1, total=5) for _ in range(3)]
    poisoned = held_without_token(quantity=2, total=5)
    # Its ticket no longer has room for the seats it holds: releasing them raises.
    Ticket.objects.filter(pk=poisoned.ticket_id).update(
        available_quantity=5, unpaid_held_quantity=0
    )

    with later(3600), caplog.at_level(logging.ERROR):
        assert purchases_expire_due() == 3
    assert {p.status for p in TicketPurchase.objects.filter(pk__in=[g.pk for g in good])} == {
        "expired"
    }
    poisoned.refresh_from_db()
    assert poisoned.status == "pending"
    assert str(poisoned.pk) in caplog.text
    # It is skipped, not retried every minute ahead of the rest, until its claim lapses.
    with later(3600 + 1):
        assert purchases_expire_due() == 0


# --- every waiting state is found again -------------------------------------------------------


def test_a_submitted_payment_whose_task_was_lost_is_charged_again(
    published, django_capture_on_commit_callbacks
):
    purchase = held_without_token()
    purchase_submit_payment(purchase_id=purchase.pk, payment_token="tok_success")
    published.clear()  # the broker lost that message
    assert purchases_requeue_waiting() == 0  # not yet: it may still be queued
    with later(120), django_capture_on_commit_callbacks(execute=True):
        assert purchases_requeue_waiting() == 1
        assert purchases_requeue_waiting() == 0  # claimed: not sent twice
    assert published.ids(PROCESS_TASK) == [str(purchase.pk)]


def test_a_confirmed_purchase_never_delivered_is_delivered_again(
    published, django_capture_on_commit_callbacks
):
    purchase = PurchaseFactory(ticket=TicketFactory(total_quantity=5))
    purchase_process(purchase_id=purchase.pk)
    published.clear()
    with later(120), django_capture_on_commit_callbacks(execute=True):
        assert purchases_requeue_undelivered() == 1
    assert published.ids(DELIVER_BATCH_TASK) == [DOORBELL_KEY]  # the mailer claims it


def test_a_stored_purchase_answers_202_when_the_broker_is_down(
    api_client, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def broker_down(name, args, countdown=None):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(queue, "publish", broker_down)
    ticket = TicketFactory(total_quantity=5)
    body = {
        "ticket_id": ticket.pk,
        "quantity": 1,
        "customer_name": "Ann",
        "customer_email": "ann@example.com",
        "payment_method": "card",
        "payment_token": "tok_success",
    }
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/tickets/purchase/direct/", body, format="json")
    assert response.status_code == 202
    purchase = TicketPurchase.objects.get(pk=response.json()["purchase_id"])
    assert purchase.status == "pending"
    assert "its sweep will re-enqueue it" in caplog.text
