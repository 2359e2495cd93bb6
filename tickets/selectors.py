"""Reads of tickets, purchases and codes for the API, the sweeps and the commands.

A read of one object raises the model's `DoesNotExist` when there is none; the
API answers that with 404.
"""

import uuid
from datetime import timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from project.row_by_pk import RowByPk
from tickets.codes import code_normalize
from tickets.models import Ticket, TicketCode, TicketPurchase, WaitingListEntry

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


def tickets_on_sale() -> QuerySet[Ticket]:
    """The one definition of "on sale": the catalog lists these and only these
    can be bought. Open-ended sale windows are open."""
    now = timezone.now()
    return Ticket.objects.filter(is_on_sale=True, starts_at__gt=now).exclude(
        Q(sale_starts_at__gt=now) | Q(sale_ends_at__lte=now)
    )


def purchase_detail(*, purchase_id) -> TicketPurchase:
    """The full purchase, with its ticket and codes."""
    return (
        TicketPurchase.objects.select_related("ticket")
        .prefetch_related("codes")
        .get(pk=purchase_id)
    )


STATUS_FIELDS = (
    "id",
    "status",
    "payment_status",
    "failure_reason",
    "updated_at",
    "ticket_id",
    "inventory_reserved",
    "payment_client_secret",
)


def purchase_refund_pending(*, purchase_id) -> bool:
    """Whether the purchase waits for the gateway to finish its refund."""
    return TicketPurchase.objects.filter(
        pk=purchase_id, payment_status=PaymentStatus.REFUND_PENDING
    ).exists()


_STATUS_ROW = RowByPk(TicketPurchase, STATUS_FIELDS, placeholder=uuid.UUID(int=0))


def purchase_status(*, purchase_id) -> dict:
    """What a poller needs, as one small row by primary key (no model instance,
    no ORDER BY, its SQL compiled once: it is asked by the thousand).
    `ticket_id` and `inventory_reserved` say whether the purchase still waits
    in its ticket's queue."""
    row = _STATUS_ROW.get(purchase_id)
    if row is None:
        raise TicketPurchase.DoesNotExist(f"no purchase {purchase_id}")
    return row


def purchase_code(*, purchase_id, code: str) -> TicketCode:
    """One code of a purchase, as typed (case does not matter)."""
    return TicketCode.objects.get(purchase_id=purchase_id, code=code_normalize(code))


def purchases_for_user(user) -> QuerySet[TicketPurchase]:
    return (
        TicketPurchase.objects.filter(user=user)
        .select_related("ticket")
        .prefetch_related("codes")
        .order_by("-created_at")
    )


def unstarted_lookups(*, older_than_seconds: int, now=None) -> dict:
    """Pending purchases no worker has touched: their task was lost between the
    commit and the publish, or the broker lost it. As field lookups, so the one
    rule filters a queryset and an admin changelist link (tickets/console/live_sale.py)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=older_than_seconds)
    return {
        "status__exact": Status.PENDING,
        "processing_started_at__isnull": True,
        "created_at__lte": cutoff,
    }


def purchases_unstarted(*, older_than_seconds: int = 60) -> QuerySet[TicketPurchase]:
    return TicketPurchase.objects.filter(**unstarted_lookups(older_than_seconds=older_than_seconds))


def seats_in_flight(*, ticket_id: int) -> int:
    """Seats of the ticket held by purchases not yet ended (unpaid holds,
    charges without an answer): the seats that could still come back."""
    return (
        TicketPurchase.objects.filter(
            ticket_id=ticket_id, status=Status.PENDING, inventory_reserved=True
        ).aggregate(seats=Sum("quantity"))["seats"]
        or 0
    )


def seats_wanted_in_line(*, ticket_id: int, up_to: int) -> int:
    """Seats asked for by the ticket's accepted purchases still waiting for
    seats, counted until `up_to` (the oldest first: at most `up_to` rows read)."""
    if up_to <= 0:
        return 0
    quantities = (
        TicketPurchase.objects.filter(
            ticket_id=ticket_id, status=Status.PENDING, inventory_reserved=False
        )
        .order_by("created_at")
        .values_list("quantity", flat=True)[:up_to]
    )
    return min(up_to, sum(quantities))


def purchases_awaiting_processing(*, older_than_seconds: int) -> QuerySet[TicketPurchase]:
    """Pending purchases waiting for a worker longer than they should: never
    started (the task was lost between commit and publish, or by the broker),
    or given a payment token (`complete/`) whose charge never began."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return TicketPurchase.objects.filter(
        Q(processing_started_at__isnull=True) | ~Q(payment_token=""),
        status=Status.PENDING,
        payment_status=PaymentStatus.PENDING,
        updated_at__lte=cutoff,
    )


def purchases_undelivered(*, older_than_seconds: int) -> QuerySet[TicketPurchase]:
    """Confirmed purchases whose tickets were never sent (the delivery task was
    lost, or gave up on the mail server)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return TicketPurchase.objects.filter(status=Status.CONFIRMED, updated_at__lte=cutoff)


def purchases_refund_unfinished(*, older_than_seconds: int) -> QuerySet[TicketPurchase]:
    """Refunds decided but not recorded as done (a crash between the steps)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return TicketPurchase.objects.filter(
        payment_status=PaymentStatus.REFUND_PENDING, updated_at__lte=cutoff
    )


def stuck_in_payment_lookups(*, older_than_minutes: int, now=None) -> dict:
    """Pending purchases whose payment has been processing too long, as field
    lookups (see unstarted_lookups)."""
    cutoff = (now or timezone.now()) - timedelta(minutes=older_than_minutes)
    return {
        "status__exact": Status.PENDING,
        # Waiting for 3-D Secure too: the sweep asks when no webhook came.
        "payment_status__in": (PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION),
        "payment_started_at__lte": cutoff,
    }


def purchases_stuck_in_payment(*, older_than_minutes: int) -> QuerySet[TicketPurchase]:
    lookups = stuck_in_payment_lookups(older_than_minutes=older_than_minutes)
    return TicketPurchase.objects.filter(**lookups)


def purchase_status_counts(purchases: QuerySet[TicketPurchase] | None = None) -> dict[str, int]:
    """Purchases by status (every status, 0 included), of all or of `purchases`."""
    purchases = TicketPurchase.objects.all() if purchases is None else purchases
    rows = purchases.values("status").annotate(n=Count("id")).order_by()
    counts = {status: 0 for status in Status.values}
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def purchases_overview(*, stuck_older_than_minutes: int) -> dict:
    """Staff's view of the pipeline: counts by status, the ids of (at most 50)
    purchases stuck in payment or never started, and the 20 most recent purchases."""
    stuck = purchases_stuck_in_payment(older_than_minutes=stuck_older_than_minutes)
    recent = TicketPurchase.objects.select_related("ticket").prefetch_related("codes")
    return {
        "counts": purchase_status_counts(),
        "stuck_in_payment": list(stuck.values_list("id", flat=True)[:50]),
        "never_started": list(purchases_unstarted().values_list("id", flat=True)[:50]),
        "recent": recent.order_by("-created_at")[:20],
    }


def waiting_list_entry(*, entry_id) -> WaitingListEntry:
    return WaitingListEntry.objects.get(pk=entry_id)


def waiting_list_entry_of_purchase(*, purchase_id) -> WaitingListEntry | None:
    """The waiting-list entry whose offer the purchase was bought through, if any."""
    return WaitingListEntry.objects.filter(purchase_id=purchase_id).first()


def waiting_position(entry: WaitingListEntry) -> int | None:
    """1 for the first in line; None while the entry is not in line (not
    confirmed yet, or no longer waiting). The line runs by confirmation time."""
    if entry.state != WaitingListEntry.State.WAITING:
        return None
    ahead = WaitingListEntry.objects.filter(
        ticket_id=entry.ticket_id,
        state=WaitingListEntry.State.WAITING,
        confirmed_at__lt=entry.confirmed_at,
    ).count()
    return ahead + 1
