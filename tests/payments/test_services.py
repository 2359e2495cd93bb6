"""Every booking and payment transition through its service: done once, done
twice (nothing changes the second time), and refused where the move is illegal."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from gateways import Outcome, TransientGatewayError, attempt
from payments import refunds, services
from payments.errors import (
    BookingNotPending,
    DestinationUnavailable,
    GuestsInvalid,
    IllegalTransition,
    PaymentInProgress,
    RefundRefused,
    TravelDateInvalid,
)
from payments.models import Booking, Payment
from project.tasks import BOOKING_PROCESS_TASK
from tests.payments.factories import DestinationFactory, gateway_calls, payment_of

pytestmark = pytest.mark.django_db


def create(destination, **overrides) -> Booking:
    arguments = {
        "destination_id": destination.pk,
        "customer_name": "Amani Juma",
        "customer_email": "amani@example.com",
        "travel_date": timezone.localdate() + timedelta(days=10),
        "guests": 3,
        "payment_method": Payment.Method.CARD,
        "payment_token": "tok_success",
        **overrides,
    }
    return services.booking_create(**arguments)


def reread(payment: Payment) -> Payment:
    return Payment.objects.select_related("booking").get(pk=payment.pk)


# --- create ------------------------------------------------------------------------------


def test_create_prices_the_booking_on_the_server_and_enqueues_after_commit(
    published, django_capture_on_commit_callbacks
):
    destination = DestinationFactory(price_per_guest=Decimal("480.00"), currency="EUR")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        booking = create(destination, guests=3)
    assert published == []  # nothing is published before the booking is committed
    for callback in callbacks:
        callback()
    payment = booking.payment
    assert (booking.status, booking.total_amount, booking.currency) == (
        "pending",
        Decimal("1440.00"),
        "EUR",
    )
    assert (payment.status, payment.amount, payment.currency) == (
        "pending",
        Decimal("1440.00"),
        "EUR",
    )
    assert published.ids(BOOKING_PROCESS_TASK) == [str(payment.pk)]


def test_create_without_a_token_enqueues_nothing(published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        booking = create(DestinationFactory(), payment_token="", payment_method="bank_transfer")
    assert booking.payment.status == "pending" and published == []


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"destination_id": 999999}, DestinationUnavailable),
        ({"travel_date": timezone.localdate()}, TravelDateInvalid),
        ({"travel_date": timezone.localdate() - timedelta(days=1)}, TravelDateInvalid),
        ({"guests": 0}, GuestsInvalid),
        ({"guests": Booking.MAX_GUESTS + 1}, GuestsInvalid),
    ],
)
def test_create_refuses_what_cannot_be_booked_and_creates_nothing(overrides, error):
    with pytest.raises(error):
        create(DestinationFactory(), **overrides)
    assert not Booking.objects.exists() and not Payment.objects.exists()


def test_an_inactive_destination_cannot_be_booked():
    with pytest.raises(DestinationUnavailable):
        create(DestinationFactory(is_active=False))
    assert not Booking.objects.exists()


# --- process -----------------------------------------------------------------------------


def test_process_captures_and_confirms_and_a_second_run_charges_nothing(gateway):
    payment = payment_of(payment__payment_token="tok_success")
    first = services.payment_process(payment_id=payment.pk)
    assert first.status == "completed" and first.gateway_reference.startswith("sim_")
    assert first.completed_at and first.processing_started_at
    assert reread(payment).booking.status == "confirmed"

    again = services.payment_process(payment_id=payment.pk)
    assert again.status == "completed" and again.gateway_reference == first.gateway_reference
    assert gateway_calls(gateway, payment) == 1
    assert gateway.captures(str(payment.pk)) == 1


def test_process_of_a_declined_card_fails_the_booking_once(gateway):
    payment = payment_of(payment__payment_token="tok_decline")
    assert services.payment_process(payment_id=payment.pk).status == "failed"
    assert services.payment_process(payment_id=payment.pk).status == "failed"
    booking = reread(payment).booking
    assert (booking.status, booking.failure_reason) == ("failed", "payment_declined")
    assert gateway_calls(gateway, payment) == 1


def test_process_without_a_token_leaves_the_payment_pending(gateway):
    payment = payment_of(payment__payment_token="")
    assert services.payment_process(payment_id=payment.pk).status == "pending"
    assert gateway_calls(gateway, payment) == 0


def test_process_of_a_pending_answer_stays_processing(gateway):
    payment = payment_of(payment__payment_token="tok_pending")
    assert services.payment_process(payment_id=payment.pk).status == "processing"
    assert reread(payment).booking.status == "pending"


def test_a_transient_error_leaves_processing_for_the_retry_and_give_up_fails_cleanly(gateway):
    payment = payment_of(payment__payment_token="tok_error")
    for _ in range(2):
        with pytest.raises(TransientGatewayError):
            services.payment_process(payment_id=payment.pk)
        assert reread(payment).status == "processing"
    failed = services.payment_give_up(payment_id=payment.pk)
    assert failed.status == "failed"
    assert reread(payment).booking.failure_reason == "payment_error"


def test_give_up_completes_a_payment_the_gateway_did_capture(gateway, stuck_payment):
    payment = stuck_payment(charged_with="tok_success")
    assert services.payment_give_up(payment_id=payment.pk).status == "completed"


def test_give_up_leaves_a_payment_the_gateway_has_no_answer_for(gateway, stuck_payment):
    payment = stuck_payment(charged_with="tok_pending")
    assert services.payment_give_up(payment_id=payment.pk).status == "processing"


def test_a_cancelled_booking_is_never_charged(gateway):
    payment = payment_of()
    services.booking_cancel(booking_id=payment.booking_id)
    assert services.payment_process(payment_id=payment.pk).status == "failed"
    assert gateway_calls(gateway, payment) == 0


@pytest.mark.django_db(transaction=True)
def test_no_database_transaction_is_open_while_the_gateway_charges(monkeypatch, gateway):
    seen = []
    real_charge = gateway.charge

    def charge(**kwargs):
        seen.append(connection.in_atomic_block)
        return real_charge(**kwargs)

    monkeypatch.setattr(gateway, "charge", charge)
    monkeypatch.setattr(attempt, "get_gateway", lambda: gateway)
    payment = payment_of()
    assert services.payment_process(payment_id=payment.pk).status == "completed"
    assert seen == [False]


# --- complete and fail ---------------------------------------------------------------------


def test_complete_twice_is_a_no_op_the_second_time(stuck_payment):
    payment = stuck_payment()
    first = services.payment_complete(payment_id=payment.pk, gateway_reference="ref-1")
    again = services.payment_complete(payment_id=payment.pk, gateway_reference="ref-2")
    assert first.status == again.status == "completed"
    assert reread(payment).gateway_reference == "ref-1"
    assert reread(payment).booking.status == "confirmed"


def test_fail_twice_keeps_the_first_reason(stuck_payment):
    payment = stuck_payment()
    services.payment_fail(payment_id=payment.pk, reason="payment_declined")
    services.payment_fail(payment_id=payment.pk, reason="something_else")
    booking = reread(payment).booking
    assert (booking.status, booking.failure_reason) == ("failed", "payment_declined")


def test_a_failed_payment_cannot_be_completed(stuck_payment):
    payment = stuck_payment()
    services.payment_fail(payment_id=payment.pk, reason="payment_declined")
    with pytest.raises(IllegalTransition):
        services.payment_complete(payment_id=payment.pk, gateway_reference="late")
    assert reread(payment).status == "failed"


def test_a_completed_payment_cannot_be_failed(stuck_payment):
    payment = stuck_payment()
    services.payment_complete(payment_id=payment.pk, gateway_reference="ref")
    with pytest.raises(IllegalTransition):
        services.payment_fail(payment_id=payment.pk, reason="payment_declined")
    assert reread(payment).booking.status == "confirmed"


# --- cancel and refund ------------------------------------------------------------------------


def test_cancel_twice_and_its_payment_fails_with_it():
    payment = payment_of()
    assert services.booking_cancel(booking_id=payment.booking_id).status == "cancelled"
    assert services.booking_cancel(booking_id=payment.booking_id).status == "cancelled"
    assert reread(payment).status == "failed"


def test_cancel_is_refused_once_payment_started_or_booking_settled(stuck_payment):
    processing = stuck_payment()
    with pytest.raises(PaymentInProgress):
        services.booking_cancel(booking_id=processing.booking_id)
    services.payment_complete(payment_id=processing.pk, gateway_reference="ref")
    with pytest.raises(BookingNotPending):
        services.booking_cancel(booking_id=processing.booking_id)
    assert reread(processing).booking.status == "confirmed"


def test_refund_twice_refunds_once_at_the_gateway(gateway):
    payment = payment_of()
    services.payment_process(payment_id=payment.pk)
    assert refunds.payment_refund(payment_id=payment.pk).status == "refunded"
    assert refunds.payment_refund(payment_id=payment.pk).status == "refunded"
    assert reread(payment).booking.status == "refunded"
    assert gateway.lookup(idempotency_key=str(payment.pk)).outcome == Outcome.REFUNDED


def test_only_a_completed_payment_can_be_refunded(stuck_payment):
    with pytest.raises(RefundRefused):
        refunds.payment_refund(payment_id=payment_of().pk)
    with pytest.raises(RefundRefused):
        refunds.payment_refund(payment_id=stuck_payment().pk)


def test_a_refunded_payment_cannot_be_completed_again():
    payment = payment_of()
    services.payment_process(payment_id=payment.pk)
    refunds.payment_refund(payment_id=payment.pk)
    with pytest.raises(IllegalTransition):
        services.payment_complete(payment_id=payment.pk, gateway_reference="again")
