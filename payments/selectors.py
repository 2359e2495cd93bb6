"""Reads of bookings and payments shared by the API, the sweep and the commands."""

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from payments.models import Destination, Payment


def destinations_active() -> QuerySet[Destination]:
    return Destination.objects.filter(is_active=True).order_by("name")


def payments_stuck(*, older_than_minutes: int) -> QuerySet[Payment]:
    """Payments in processing for longer than `older_than_minutes`."""
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    return Payment.objects.filter(
        status=Payment.Status.PROCESSING, processing_started_at__lte=cutoff
    )
