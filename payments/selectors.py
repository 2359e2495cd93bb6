"""Reads of bookings and payments for the API, the sweep and the commands.

A read of one object raises the model's `DoesNotExist` when there is none; the
API answers that with 404.
"""

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from payments.models import Booking, Destination, Payment


def destinations_active() -> QuerySet[Destination]:
    return Destination.objects.filter(is_active=True).order_by("name")


def booking_detail(*, booking_id) -> Booking:
    """The booking with its destination and payment."""
    return Booking.objects.select_related("destination", "payment").get(pk=booking_id)


_STATUS_FIELDS = (
    "id",
    "status",
    "payment__status",
    "failure_reason",
    "updated_at",
    "payment__updated_at",
)


def booking_status(*, booking_id) -> dict:
    """What a poller needs, from one small row (no model instance): it is asked often."""
    row = Booking.objects.values(*_STATUS_FIELDS).get(pk=booking_id)
    return {
        "booking_id": row["id"],
        "status": row["status"],
        "payment_status": row["payment__status"],
        "failure_reason": row["failure_reason"],
        # The booking and its payment change apart (pending -> processing touches
        # only the payment): the later of the two is when the status last changed.
        "updated_at": max(row["updated_at"], row["payment__updated_at"]),
    }


def payments_stuck(*, older_than_minutes: int) -> QuerySet[Payment]:
    """Payments in processing for longer than `older_than_minutes`."""
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    return Payment.objects.filter(
        status=Payment.Status.PROCESSING, processing_started_at__lte=cutoff
    )


def payments_awaiting_charge(*, older_than_seconds: int) -> QuerySet[Payment]:
    """Pending payments with a token whose charge never began: the task that
    should have taken it was lost."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return Payment.objects.filter(
        status=Payment.Status.PENDING,
        booking__status=Booking.Status.PENDING,
        updated_at__lte=cutoff,
    ).exclude(payment_token="")


def payments_refund_unfinished(*, older_than_seconds: int) -> QuerySet[Payment]:
    """Refunds not known done for a while: a crash between the steps, an answer
    that never came, or a refund still pending at the gateway."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return Payment.objects.filter(status=Payment.Status.REFUND_PENDING, updated_at__lte=cutoff)


def payment_refund_pending(*, payment_id) -> bool:
    """Whether the payment waits for the gateway to finish its refund."""
    return Payment.objects.filter(pk=payment_id, status=Payment.Status.REFUND_PENDING).exists()
