"""Reads of ticket purchases shared by the API, the sweeps and the commands."""

from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from tickets.models import Ticket, TicketPurchase

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


def tickets_on_sale() -> QuerySet[Ticket]:
    """The one definition of "on sale": the catalog lists these and only these
    can be bought. Open-ended sale windows are open."""
    now = timezone.now()
    return Ticket.objects.filter(is_on_sale=True, starts_at__gt=now).exclude(
        Q(sale_starts_at__gt=now) | Q(sale_ends_at__lte=now)
    )


def purchases_for_user(user) -> QuerySet[TicketPurchase]:
    return (
        TicketPurchase.objects.filter(user=user)
        .select_related("ticket")
        .prefetch_related("codes")
        .order_by("-created_at")
    )


def purchases_unstarted(*, older_than_seconds: int = 60) -> QuerySet[TicketPurchase]:
    """Pending purchases no worker has touched: their task was lost between the
    commit and the publish, or the broker lost it."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return TicketPurchase.objects.filter(
        status=Status.PENDING, processing_started_at__isnull=True, created_at__lte=cutoff
    )


def purchases_stuck_in_payment(*, older_than_minutes: int) -> QuerySet[TicketPurchase]:
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    return TicketPurchase.objects.filter(
        status=Status.PENDING,
        payment_status=PaymentStatus.PROCESSING,
        payment_started_at__lte=cutoff,
    )


def purchase_status_counts() -> dict[str, int]:
    rows = TicketPurchase.objects.values("status").annotate(n=Count("id")).order_by()
    counts = {status: 0 for status in Status.values}
    counts.update({row["status"]: row["n"] for row in rows})
    return counts
