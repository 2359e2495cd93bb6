"""A refund is undone only when the gateway definitely did not refund: a lost
answer or a pending refund leaves it `refund_pending` for the sweep to ask, and
two refunds of one purchase at once end refunded, never paid with the money gone."""

import contextlib
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from gateways import TransientGatewayError
from gateways.simulated import SimulatedGateway
from project.tasks import REFUND_MAIL_TASK
from tests.factories import PurchaseFactory, TicketFactory
from tests.inventory import assert_inventory_adds_up
from tickets.delivery.services import purchase_refund_notice
from tickets.errors import RefundRefused
from tickets.models import TicketCode, TicketPurchase
from tickets.refunds.services import REFUND_UNDONE, purchase_refund, purchase_refund_finish
from tickets.sale.payment import purchase_process
from tickets.sale.sweeps import purchases_finish_refunds

PaymentStatus = TicketPurchase.PaymentStatus
Status = TicketPurchase.Status


def paid_purchase(quantity: int = 2) -> TicketPurchase:
    ticket = TicketFactory(total_quantity=quantity)
    purchase = PurchaseFactory(ticket=ticket, quantity=quantity)
    purchase_process(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert purchase.status == Status.CONFIRMED
    return purchase


def code_states(purchase) -> set[str]:
    return set(TicketCode.objects.filter(purchase=purchase).values_list("status", flat=True))


def answers_lost(monkeypatch, *, calls_lost: int = 1, later_delay: float = 0.0) -> list:
    """The gateway refunds, but its answer to the first `calls_lost` refund calls
    never comes back (a timeout); later calls answer after `later_delay`."""
    real_refund = SimulatedGateway.refund
    calls: list[str] = []
    lock = threading.Lock()

    def refund(self, **kwargs):
        with lock:
            calls.append("call")
            lost = len(calls) <= calls_lost
        if not lost:
            time.sleep(later_delay)
        result = real_refund(self, **kwargs)
        if lost:
            raise TransientGatewayError("simulated: the refund's answer timed out")
        return result

    monkeypatch.setattr(SimulatedGateway, "refund", refund)
    return calls


@pytest.mark.django_db
def test_a_refund_whose_answer_times_out_stays_pending_with_its_codes_void(monkeypatch):
    purchase = paid_purchase()
    answers_lost(monkeypatch)

    # The caller may hear of the timeout or not; what matters is what is recorded.
    with contextlib.suppress(TransientGatewayError):
        purchase_refund(purchase_id=purchase.pk)

    purchase.refresh_from_db()
    assert purchase.payment_status == PaymentStatus.REFUND_PENDING
    assert code_states(purchase) == {TicketCode.Status.VOID}

    monkeypatch.undo()  # the sweep asks again: the gateway had refunded
    purchase_refund_finish(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_status) == (Status.REFUNDED, PaymentStatus.REFUNDED)
    assert_inventory_adds_up(purchase.ticket)


@pytest.mark.django_db(transaction=True)
def test_two_refunds_of_one_purchase_at_once_end_refunded(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row locks that make two refunds wait on each other are PostgreSQL's")
    purchase = paid_purchase()
    # The first refund call's answer is lost; another call, a moment later, is answered.
    answers_lost(monkeypatch, calls_lost=1, later_delay=0.3)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def staff_clicks_refund() -> None:
        try:
            barrier.wait()
            purchase_refund(purchase_id=purchase.pk)
        except TransientGatewayError:
            pass
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    clicks = [threading.Thread(target=staff_clicks_refund) for _ in range(2)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(timeout=30)
    assert errors == []

    purchase.refresh_from_db()
    # Money may have gone back: the purchase must not be paid with valid codes.
    assert purchase.payment_status in (PaymentStatus.REFUND_PENDING, PaymentStatus.REFUNDED)
    assert TicketCode.Status.VALID not in code_states(purchase)

    monkeypatch.undo()
    purchase_refund_finish(purchase_id=purchase.pk)  # the refund sweep's task
    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_status) == (Status.REFUNDED, PaymentStatus.REFUNDED)
    assert_inventory_adds_up(purchase.ticket)


@pytest.mark.django_db
def test_a_pending_refund_stays_pending_until_the_gateway_finishes_it(settings):
    purchase = paid_purchase()
    purchase_process_again(purchase, token="tok_refund_pending")

    purchase_refund(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert purchase.payment_status == PaymentStatus.REFUND_PENDING
    assert code_states(purchase) == {TicketCode.Status.VOID}

    purchase_refund_finish(purchase_id=purchase.pk)  # asked again too soon: still pending
    assert TicketPurchase.objects.get(pk=purchase.pk).payment_status == purchase.payment_status

    # The gateway finishes it meanwhile; the sweep asks again through the refund task.
    later = timezone.now() + timedelta(seconds=settings.SIMULATED_PENDING_SETTLE_SECONDS + 60)
    with time_machine.travel(later):
        assert purchases_finish_refunds() == 1
        purchase_refund_finish(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_status) == (Status.REFUNDED, PaymentStatus.REFUNDED)


@pytest.mark.django_db
def test_only_a_definite_no_gives_the_codes_back(settings):
    purchase = paid_purchase()
    purchase_process_again(purchase, token="tok_refund_declined")

    with pytest.raises(RefundRefused):
        purchase_refund(purchase_id=purchase.pk)

    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_status) == (Status.CONFIRMED, PaymentStatus.COMPLETED)
    assert code_states(purchase) == {TicketCode.Status.VALID}
    assert purchase.events.filter(action=REFUND_UNDONE).exists()


@pytest.mark.django_db
def test_the_buyer_is_told_of_the_refund_by_e_mail(
    published, mailoutbox, django_capture_on_commit_callbacks
):
    purchase = paid_purchase()
    with django_capture_on_commit_callbacks(execute=True):
        purchase_refund(purchase_id=purchase.pk)
    assert published.ids(REFUND_MAIL_TASK) == [str(purchase.pk)]

    assert purchase_refund_notice(purchase_id=purchase.pk)
    (message,) = mailoutbox
    assert message.to == [purchase.customer_email]
    assert "refunded" in message.body and "no longer valid" in message.body


@pytest.mark.django_db
def test_staff_filter_pending_and_failed_refunds(admin_client, monkeypatch):
    pending, failed, paid = paid_purchase(), paid_purchase(), paid_purchase()
    answers_lost(monkeypatch, calls_lost=1)
    purchase_refund(purchase_id=pending.pk)
    monkeypatch.undo()
    purchase_process_again(failed, token="tok_refund_declined")
    with pytest.raises(RefundRefused):
        purchase_refund(purchase_id=failed.pk)

    url = "/admin/tickets/ticketpurchase/"
    for value, expected in (("pending", pending), ("failed", failed)):
        page = admin_client.get(url, {"refund": value}).content.decode()
        assert str(expected.pk) in page
        others = {pending, failed, paid} - {expected}
        assert all(str(other.pk) not in page for other in others)


def purchase_process_again(purchase, *, token: str) -> None:
    """The purchase's capture, as the gateway holds it, made with `token` (the
    simulated gateway's test tokens shape what its refund will do)."""
    gateway = SimulatedGateway()
    gateway.redis.delete(f"simgw:charge:{purchase.pk}")
    gateway.charge(
        idempotency_key=str(purchase.pk),
        amount=purchase.total_amount,
        currency=purchase.currency,
        token=token,
    )
