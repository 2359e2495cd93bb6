"""Cancelling a destination booking whose payment has not started: the booking
is cancelled with its payment; a final booking, or one being paid, stays (409)."""

import uuid

import pytest

from payments import services
from payments.models import Booking, Payment
from tests.payments.factories import BookingFactory

pytestmark = pytest.mark.django_db


def cancel(client, booking_id):
    return client.post(f"/api/payments/bookings/{booking_id}/cancel/")


def test_cancel_answers_the_booking_status(api_client):
    booking = BookingFactory(payment__payment_token="")

    response = cancel(api_client, booking.pk)

    assert response.status_code == 200
    assert response.json() == {
        "booking_id": str(booking.pk),
        "status": "cancelled",
        "payment_status": "failed",
        "failure_reason": "cancelled",
        "updated_at": response.json()["updated_at"],
    }
    polled = api_client.get(f"/api/payments/bookings/{booking.pk}/status/")
    assert polled.json() == response.json() and "Retry-After" not in polled


def test_a_second_cancel_answers_the_same_and_changes_nothing(api_client):
    booking = BookingFactory()
    first = cancel(api_client, booking.pk)
    updated_at = Booking.objects.get(pk=booking.pk).updated_at

    second = cancel(api_client, booking.pk)

    assert second.status_code == 200 and second.json() == first.json()
    assert Booking.objects.get(pk=booking.pk).updated_at == updated_at


def test_a_confirmed_booking_cannot_be_cancelled(api_client):
    booking = BookingFactory(payment__payment_token="tok_success")
    services.payment_process(payment_id=booking.payment.pk)

    response = cancel(api_client, booking.pk)

    assert response.status_code == 409
    assert response.json()["code"] == "booking_not_pending"
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CONFIRMED
    assert Payment.objects.get(booking=booking).status == Payment.Status.COMPLETED


def test_a_booking_being_paid_cannot_be_cancelled(api_client):
    booking = BookingFactory()
    Payment.objects.filter(booking=booking).update(status=Payment.Status.PROCESSING)

    response = cancel(api_client, booking.pk)

    assert response.status_code == 409
    assert response.json()["code"] == "payment_in_progress"
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.PENDING
    assert Payment.objects.get(booking=booking).status == Payment.Status.PROCESSING


def test_cancelling_an_unknown_or_malformed_booking_is_404(api_client):
    missing = cancel(api_client, uuid.uuid4())
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not found.", "code": "not_found"}
    assert cancel(api_client, "not-a-uuid").status_code == 404
