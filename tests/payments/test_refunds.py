"""Booking refunds keep the same discipline as ticket refunds: `refund_pending`
is recorded before the gateway is called, a refund of money captured after the
booking ended is recorded on it, and only a definite "not refunded" undoes."""

import contextlib

import pytest

from gateways import TransientGatewayError
from gateways.simulated import SimulatedGateway
from payments import refunds, services
from payments.models import Booking, BookingEvent, Payment
from tests.payments.factories import payment_of

pytestmark = pytest.mark.django_db


def reread(payment: Payment) -> Payment:
    return Payment.objects.select_related("booking").get(pk=payment.pk)


def test_a_transfer_settling_after_its_booking_was_cancelled_is_refunded_and_recorded():
    payment = payment_of(payment__method="bank_transfer", payment__payment_token="")
    services.booking_cancel(booking_id=payment.booking_id)
    # The transfer lands at the gateway after all.
    SimulatedGateway().record(
        idempotency_key=str(payment.pk), amount=payment.amount, currency="USD", succeed=True
    )

    services.payment_reconcile(payment_id=payment.pk)

    payment = reread(payment)
    assert payment.status == Payment.Status.REFUNDED and payment.refunded_at is not None
    assert payment.booking.status == Booking.Status.CANCELLED
    assert BookingEvent.objects.filter(booking=payment.booking, action="refunded").exists()


def test_a_booking_refund_whose_answer_is_lost_stays_pending_until_the_sweep_knows(monkeypatch):
    payment = payment_of()
    services.payment_process(payment_id=payment.pk)
    real_refund = SimulatedGateway.refund

    def answer_lost(self, **kwargs):
        real_refund(self, **kwargs)
        raise TransientGatewayError("simulated: the refund's answer timed out")

    monkeypatch.setattr(SimulatedGateway, "refund", answer_lost)
    with contextlib.suppress(TransientGatewayError):
        refunds.payment_refund(payment_id=payment.pk)
    assert reread(payment).status == "refund_pending"

    monkeypatch.undo()
    refunds.payment_refund_finish(payment_id=payment.pk)  # the sweep's task
    payment = reread(payment)
    assert payment.status == Payment.Status.REFUNDED and payment.refunded_at is not None
    assert payment.booking.status == Booking.Status.REFUNDED


def test_paid_bookings_and_payments_cannot_be_deleted_in_the_admin(admin_client):
    paid = payment_of()
    services.payment_process(payment_id=paid.pk)
    unpaid = payment_of()
    for url in (
        f"/admin/payments/payment/{paid.pk}/delete/",
        f"/admin/payments/booking/{paid.booking_id}/delete/",
    ):
        assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert Payment.objects.filter(pk=paid.pk).exists()
    unpaid_page = admin_client.get(f"/admin/payments/booking/{unpaid.booking_id}/delete/")
    assert unpaid_page.status_code == 200
