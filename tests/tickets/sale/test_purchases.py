from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from gateways import TransientGatewayError
from gateways.simulated import SimulatedGateway
from tests.factories import PurchaseFactory, TicketFactory
from tickets.delivery.services import purchase_deliver
from tickets.errors import (
    IllegalTransition,
    PaymentAlreadySubmitted,
    PurchaseNotPending,
    RefundRefused,
    TicketUnavailable,
)
from tickets.models import Ticket, TicketCode, TicketPurchase
from tickets.refunds.services import purchase_refund
from tickets.sale.payment import (
    purchase_charge,
    purchase_confirm,
    purchase_fail,
    purchase_give_up_payment,
    purchase_process,
    purchase_reconcile_payment,
    purchase_simulate_callback,
)
from tickets.sale.purchases import (
    purchase_cancel,
    purchase_create,
    purchase_expire,
    purchase_reserve,
    purchase_submit_payment,
    purchases_expire_due,
)

pytestmark = pytest.mark.django_db

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


def reserved_purchase(**kwargs) -> TicketPurchase:
    purchase = PurchaseFactory(**kwargs)
    return purchase_reserve(purchase_id=purchase.pk)


def seats_left(ticket: Ticket) -> int:
    ticket.refresh_from_db()
    return ticket.available_quantity


# --- create ------------------------------------------------------------------------


def test_create_copies_price_from_the_ticket_and_holds_nothing_yet():
    ticket = TicketFactory(price="80.00", total_quantity=5)
    purchase = purchase_create(
        ticket_id=ticket.pk,
        quantity=2,
        customer_name="Ann",
        customer_email="ann@example.com",
        payment_method="card",
    )
    assert purchase.status == Status.PENDING
    assert str(purchase.total_amount) == "160.00"
    # No payment token: an unpaid hold, short (UNPAID_HOLD_SECONDS).
    assert purchase.hold_expires_at > timezone.now() + timedelta(seconds=250)
    assert purchase.hold_expires_at < timezone.now() + timedelta(seconds=310)
    assert seats_left(ticket) == 5


@pytest.mark.parametrize(
    "ticket_kwargs",
    [
        {"is_on_sale": False},
        {"starts_at": timezone.now() - timedelta(hours=1)},
        {"sale_ends_at": timezone.now() - timedelta(minutes=1)},
        {"sale_starts_at": timezone.now() + timedelta(days=1)},
    ],
)
def test_create_refuses_a_ticket_not_on_sale(ticket_kwargs):
    ticket = TicketFactory(**ticket_kwargs)
    with pytest.raises(TicketUnavailable):
        purchase_create(
            ticket_id=ticket.pk,
            quantity=1,
            customer_name="Ann",
            customer_email="ann@example.com",
            payment_method="card",
        )
    assert not TicketPurchase.objects.exists()


# --- reserve -----------------------------------------------------------------------


def test_reserve_takes_seats_once_even_when_run_twice():
    ticket = TicketFactory(total_quantity=5)
    purchase = PurchaseFactory(ticket=ticket, quantity=2)
    purchase_reserve(purchase_id=purchase.pk)
    purchase_reserve(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert purchase.inventory_reserved and purchase.processing_started_at
    assert seats_left(ticket) == 3


def test_reserve_fails_sold_out_without_touching_inventory_or_payment():
    ticket = TicketFactory(total_quantity=3, available_quantity=1)
    purchase = PurchaseFactory(ticket=ticket, quantity=2)
    purchase = purchase_reserve(purchase_id=purchase.pk)
    assert (purchase.status, purchase.failure_reason) == (Status.FAILED, "sold_out")
    assert purchase.payment_status == PaymentStatus.PENDING
    assert seats_left(ticket) == 1
    assert SimulatedGateway().lookup(idempotency_key=str(purchase.pk)).outcome == "not_found"


def test_inventory_check_constraints_hold_in_the_database():
    ticket = TicketFactory(total_quantity=3)
    with pytest.raises(IntegrityError):
        Ticket.objects.filter(pk=ticket.pk).update(available_quantity=4)


# --- charge, confirm, fail -------------------------------------------------------------


def test_charge_success_confirms_with_exactly_quantity_codes():
    purchase = reserved_purchase(quantity=3, payment_token="tok_success")
    purchase = purchase_charge(purchase_id=purchase.pk)
    assert (purchase.status, purchase.payment_status) == (Status.CONFIRMED, PaymentStatus.COMPLETED)
    assert purchase.codes.count() == 3
    assert purchase.gateway_reference.startswith("sim_")


def test_charge_twice_captures_once_and_issues_codes_once():
    purchase = reserved_purchase(quantity=2)
    purchase_charge(purchase_id=purchase.pk)
    purchase_charge(purchase_id=purchase.pk)
    purchase_process(purchase_id=purchase.pk)
    assert TicketCode.objects.filter(purchase=purchase).count() == 2
    assert SimulatedGateway().captures(str(purchase.pk)) == 1


def test_decline_fails_and_releases_the_seats():
    ticket = TicketFactory(total_quantity=4)
    purchase = reserved_purchase(ticket=ticket, quantity=2, payment_token="tok_decline")
    assert seats_left(ticket) == 2
    purchase = purchase_charge(purchase_id=purchase.pk)
    assert (purchase.status, purchase.failure_reason) == (Status.FAILED, "payment_declined")
    assert purchase.payment_status == PaymentStatus.FAILED
    assert seats_left(ticket) == 4
    assert not purchase.codes.exists()


def test_transient_error_propagates_for_retry_and_leaves_payment_processing():
    ticket = TicketFactory(total_quantity=4)
    purchase = reserved_purchase(ticket=ticket, quantity=1, payment_token="tok_error")
    with pytest.raises(TransientGatewayError):
        purchase_charge(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_status) == (Status.PENDING, PaymentStatus.PROCESSING)
    assert seats_left(ticket) == 3


def test_giving_up_after_retries_fails_cleanly_and_releases_seats():
    ticket = TicketFactory(total_quantity=4)
    purchase = reserved_purchase(ticket=ticket, quantity=1, payment_token="tok_error")
    with pytest.raises(TransientGatewayError):
        purchase_charge(purchase_id=purchase.pk)
    purchase = purchase_give_up_payment(purchase_id=purchase.pk)
    assert (purchase.status, purchase.failure_reason) == (Status.FAILED, "payment_error")
    assert seats_left(ticket) == 4


def test_pending_gateway_answer_leaves_the_purchase_processing():
    purchase = reserved_purchase(payment_token="tok_pending")
    purchase = purchase_charge(purchase_id=purchase.pk)
    assert (purchase.status, purchase.payment_status) == (Status.PENDING, PaymentStatus.PROCESSING)


def test_charging_before_reserving_is_illegal():
    purchase = PurchaseFactory()
    with pytest.raises(IllegalTransition):
        purchase_charge(purchase_id=purchase.pk)


def test_confirm_is_idempotent_and_refuses_a_failed_purchase():
    purchase = reserved_purchase(quantity=2)
    purchase_confirm(purchase_id=purchase.pk, gateway_reference="ref")
    purchase_confirm(purchase_id=purchase.pk, gateway_reference="ref")
    assert purchase.codes.count() == 2
    failed = reserved_purchase()
    purchase_fail(purchase_id=failed.pk, reason="payment_declined")
    with pytest.raises(IllegalTransition):
        purchase_confirm(purchase_id=failed.pk, gateway_reference="late")


def test_fail_twice_releases_seats_once_and_cannot_fail_a_confirmed_purchase():
    ticket = TicketFactory(total_quantity=4)
    purchase = reserved_purchase(ticket=ticket, quantity=2)
    purchase_fail(purchase_id=purchase.pk, reason="x")
    purchase_fail(purchase_id=purchase.pk, reason="x")
    assert seats_left(ticket) == 4
    confirmed = reserved_purchase(ticket=ticket)
    purchase_charge(purchase_id=confirmed.pk)
    with pytest.raises(PurchaseNotPending):
        purchase_fail(purchase_id=confirmed.pk, reason="x")


# --- submit payment (complete/) --------------------------------------------------------


def test_submit_payment_stores_the_token_once():
    purchase = PurchaseFactory(payment_token="")
    purchase_submit_payment(purchase_id=purchase.pk, payment_token="tok_success")
    purchase.refresh_from_db()
    assert purchase.payment_token == "tok_success"
    with pytest.raises(PaymentAlreadySubmitted):
        purchase_submit_payment(purchase_id=purchase.pk, payment_token="tok_success")


def test_submit_payment_refuses_a_purchase_no_longer_pending():
    purchase = reserved_purchase(payment_token="")
    purchase_cancel(purchase_id=purchase.pk)
    with pytest.raises(PurchaseNotPending):
        purchase_submit_payment(purchase_id=purchase.pk, payment_token="tok_success")


# --- expire, cancel --------------------------------------------------------------------


def test_expire_releases_the_hold_once():
    ticket = TicketFactory(total_quantity=4)
    purchase = reserved_purchase(ticket=ticket, quantity=3, payment_token="")
    later = timezone.now() + timedelta(hours=1)
    purchase_expire(purchase_id=purchase.pk, now=later)
    purchase_expire(purchase_id=purchase.pk, now=later)
    purchase.refresh_from_db()
    assert purchase.status == Status.EXPIRED
    assert seats_left(ticket) == 4


def test_expire_refuses_before_the_hold_ends_and_while_payment_is_processing():
    purchase = reserved_purchase(payment_token="tok_pending")
    with pytest.raises(IllegalTransition):
        purchase_expire(purchase_id=purchase.pk)
    purchase_charge(purchase_id=purchase.pk)
    with pytest.raises(IllegalTransition):
        purchase_expire(purchase_id=purchase.pk, now=timezone.now() + timedelta(days=1))


def test_expire_due_sweeps_only_unpaid_purchases_past_their_hold():
    ticket = TicketFactory(total_quantity=10)
    past = timezone.now() - timedelta(seconds=1)
    due = reserved_purchase(ticket=ticket, quantity=2, payment_token="", hold_expires_at=past)
    not_due = reserved_purchase(ticket=ticket, quantity=1, payment_token="")
    assert purchases_expire_due() == 1
    assert purchases_expire_due() == 0
    due.refresh_from_db()
    not_due.refresh_from_db()
    assert (due.status, not_due.status) == (Status.EXPIRED, Status.PENDING)
    assert seats_left(ticket) == 9


def test_cancel_is_idempotent_and_refuses_a_confirmed_purchase():
    ticket = TicketFactory(total_quantity=4)
    purchase = reserved_purchase(ticket=ticket, quantity=2, payment_token="")
    purchase_cancel(purchase_id=purchase.pk)
    purchase_cancel(purchase_id=purchase.pk)
    assert seats_left(ticket) == 4
    confirmed = reserved_purchase(ticket=ticket)
    purchase_charge(purchase_id=confirmed.pk)
    with pytest.raises(PurchaseNotPending):
        purchase_cancel(purchase_id=confirmed.pk)


# --- deliver, refund -------------------------------------------------------------------


def test_deliver_sends_the_codes_and_completes_once(mailoutbox):
    purchase = reserved_purchase(quantity=2)
    purchase_charge(purchase_id=purchase.pk)
    purchase_deliver(purchase_id=purchase.pk)
    purchase_deliver(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED and purchase.completed_at
    assert len(mailoutbox) == 1
    for code in purchase.codes.values_list("code", flat=True):
        assert code in mailoutbox[0].body


def test_refund_voids_codes_returns_seats_and_is_idempotent():
    ticket = TicketFactory(total_quantity=4)
    purchase = reserved_purchase(ticket=ticket, quantity=2)
    purchase_charge(purchase_id=purchase.pk)
    purchase_refund(purchase_id=purchase.pk)
    purchase_refund(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_status) == (Status.REFUNDED, PaymentStatus.REFUNDED)
    assert set(purchase.codes.values_list("status", flat=True)) == {TicketCode.Status.VOID}
    assert seats_left(ticket) == 4


def test_refund_refuses_a_used_code_without_override():
    purchase = reserved_purchase(quantity=1)
    purchase_charge(purchase_id=purchase.pk)
    purchase.codes.update(status=TicketCode.Status.USED, used_at=timezone.now())
    with pytest.raises(RefundRefused):
        purchase_refund(purchase_id=purchase.pk)
    assert purchase_refund(purchase_id=purchase.pk, allow_used=True).status == "refunded"


def test_refund_refuses_an_unpaid_purchase():
    purchase = reserved_purchase(payment_token="")
    with pytest.raises(RefundRefused):
        purchase_refund(purchase_id=purchase.pk)


# --- reconcile -------------------------------------------------------------------------


def test_reconcile_confirms_a_pending_gateway_charge_once_it_settles(settings):
    settings.SIMULATED_PENDING_SETTLE_SECONDS = 0
    purchase = reserved_purchase(payment_token="tok_pending")
    purchase_charge(purchase_id=purchase.pk)
    purchase = purchase_reconcile_payment(purchase_id=purchase.pk)
    assert purchase.status == Status.CONFIRMED


def test_reconcile_leaves_an_unanswered_charge_alone():
    purchase = reserved_purchase(payment_token="tok_pending")
    purchase_charge(purchase_id=purchase.pk)
    purchase = purchase_reconcile_payment(purchase_id=purchase.pk)
    assert (purchase.status, purchase.payment_status) == (Status.PENDING, PaymentStatus.PROCESSING)


def test_simulated_callback_records_the_outcome_for_reconciliation():
    ticket = TicketFactory(total_quantity=4)
    purchase = PurchaseFactory(ticket=ticket, quantity=2, payment_token="")
    purchase_simulate_callback(purchase_id=purchase.pk, succeed=False)
    purchase = purchase_reconcile_payment(purchase_id=purchase.pk)
    assert (purchase.status, purchase.failure_reason) == (Status.FAILED, "payment_declined")
    assert seats_left(ticket) == 4


def test_refund_keeps_a_used_code_used_when_overridden():
    purchase = reserved_purchase(quantity=2)
    purchase_charge(purchase_id=purchase.pk)
    first = purchase.codes.first()
    TicketCode.objects.filter(pk=first.pk).update(status=TicketCode.Status.USED)
    purchase_refund(purchase_id=purchase.pk, allow_used=True)
    statuses = dict(purchase.codes.values_list("pk", "status"))
    assert statuses.pop(first.pk) == TicketCode.Status.USED
    assert set(statuses.values()) == {TicketCode.Status.VOID}


def test_a_refund_the_gateway_refuses_leaves_the_codes_valid(monkeypatch):
    from gateways import GatewayResult, Outcome

    purchase = reserved_purchase(quantity=2)
    purchase_charge(purchase_id=purchase.pk)
    monkeypatch.setattr(
        SimulatedGateway,
        "refund",
        lambda self, **kw: GatewayResult(Outcome.NOT_FOUND, reason="nothing_to_refund"),
    )
    with pytest.raises(RefundRefused):
        purchase_refund(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert purchase.status == Status.CONFIRMED
    assert set(purchase.codes.values_list("status", flat=True)) == {TicketCode.Status.VALID}


def test_a_refund_cut_short_by_a_gateway_outage_stays_pending_with_its_codes_void(monkeypatch):
    # No answer is not "not refunded": the refund sweep asks until it knows.
    def outage(self, **kwargs):
        raise TransientGatewayError("gateway down")

    purchase = reserved_purchase(quantity=1)
    purchase_charge(purchase_id=purchase.pk)
    monkeypatch.setattr(SimulatedGateway, "refund", outage)
    purchase_refund(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert purchase.payment_status == TicketPurchase.PaymentStatus.REFUND_PENDING
    assert purchase.codes.get().status == TicketCode.Status.VOID
