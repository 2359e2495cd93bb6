"""The numbers of one ticket's sale as it happens, for the operator's live page
in the admin (tickets/console/admin.py): seats sold, held, offered to the waiting
list or kept for it, and free, the waiting list's size, purchases by state, the queue, accepts
and confirmations per time bucket over the last minutes, and the purchases that
are stuck.

A handful of queries whatever the sale's size: one aggregate for the seats, one
for the waiting list, one grouped count by state, one count per kind of stuck
purchase, one grouped count per chart series (by second, folded into buckets
here), and the queue's counters from Redis (one round trip).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncSecond
from django.utils import timezone

from tickets import selectors
from tickets.models import Ticket, TicketPurchase, WaitingListEntry
from tickets.sale import waiting_room
from tickets.waiting_list import services

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus
EntryState = WaitingListEntry.State

BUCKET_SECONDS = 10
WINDOW_SECONDS = 300
BUCKETS = WINDOW_SECONDS // BUCKET_SECONDS
# "Per second, last minute" is read from this many of the newest buckets.
LAST_MINUTE_BUCKETS = 60 // BUCKET_SECONDS
SOLD = (Status.CONFIRMED, Status.COMPLETED)


def stuck_lookups(*, now: datetime) -> dict[str, dict]:
    """The admin changelist filters (field lookups) of each kind of stuck purchase,
    the very rules of the sweeps and the debug listing (tickets.selectors): the
    same lookups count them here and make the operator's links to them."""
    return {
        "never_started": selectors.unstarted_lookups(
            older_than_seconds=settings.REQUEUE_AFTER_SECONDS, now=now
        ),
        "payment_processing": selectors.stuck_in_payment_lookups(
            older_than_minutes=settings.STUCK_PAYMENT_MINUTES, now=now
        ),
    }


def live_sale(*, ticket_id: int, now: datetime | None = None) -> dict:
    """Everything the live page shows for one ticket, as plain values.
    Raises Ticket.DoesNotExist for an unknown ticket."""
    now = now or timezone.now()
    ticket = Ticket.objects.annotate(seats_wanted=services.seats_wanted()).get(pk=ticket_id)
    purchases = TicketPurchase.objects.filter(ticket_id=ticket_id).order_by()
    depth, drain_rate = waiting_room.queue_depth(ticket_id)
    return {
        "ticket": {"id": ticket.pk, "name": ticket.name, "on_sale": ticket.is_on_sale},
        "generated_at": now,
        "seats": _seats(ticket, purchases),
        "waiting_list": _waiting_list(ticket),
        "by_status": selectors.purchase_status_counts(purchases),
        "queue": {"depth": depth, "drain_rate": round(drain_rate, 1)},
        "chart": _chart(purchases, now=now),
        "stuck": {
            kind: {"count": purchases.filter(**lookups).count(), "lookups": lookups}
            for kind, lookups in stuck_lookups(now=now).items()
        },
    }


def _seats(ticket: Ticket, purchases: QuerySet[TicketPurchase]) -> dict:
    taken = purchases.aggregate(
        sold=Coalesce(Sum("quantity", filter=Q(status__in=SOLD)), 0),
        held=Coalesce(Sum("quantity", filter=Q(status=Status.PENDING, inventory_reserved=True)), 0),
    )
    return {
        "sold": taken["sold"],
        "held": taken["held"],
        # Held for waiting-list entries until their offers are taken or lapse.
        "offered": ticket.offered_quantity,
        # Came back while people wait, but fit none of them yet: not on sale.
        "kept": ticket.list_held_quantity,
        "free": ticket.available_quantity,
        "total": ticket.total_quantity,
    }


def _waiting_list(ticket: Ticket) -> dict:
    """Entries still waiting and the seats they ask for, open offers, and whether
    seats that come back are offered to the line at all (an operator may pause)."""
    line = WaitingListEntry.objects.filter(
        ticket=ticket, state__in=WaitingListEntry.ACTIVE_STATES
    ).aggregate(
        waiting=Count("pk", filter=Q(state=EntryState.WAITING)),
        offers=Count("pk", filter=Q(state=EntryState.OFFERED)),
    )
    return {
        "waiting": line["waiting"],
        "seats_wanted": ticket.seats_wanted,
        "offers": line["offers"],
        "paused": ticket.waiting_list_paused,
    }


def _chart(purchases: QuerySet[TicketPurchase], *, now: datetime) -> dict:
    """Accepts (`created_at`) and confirmations (`confirmed_at`) per bucket of
    BUCKET_SECONDS over the last WINDOW_SECONDS. Buckets sit on whole multiples of
    BUCKET_SECONDS, so a refresh adds to the newest bar instead of shifting them
    all; that newest one is still filling, and `seconds` says for how long."""
    newest = _bucket_floor(now)
    first = newest - timedelta(seconds=BUCKET_SECONDS * (BUCKETS - 1))
    accepted = _per_bucket(purchases, "created_at", first=first, now=now)
    confirmed = _per_bucket(purchases, "confirmed_at", first=first, now=now)
    buckets = []
    for index in range(BUCKETS):
        start = first + timedelta(seconds=BUCKET_SECONDS * index)
        seconds = BUCKET_SECONDS if start < newest else max(1, int((now - newest).total_seconds()))
        buckets.append(
            {
                "start": start,
                "seconds": seconds,
                "accepted": accepted[index],
                "confirmed": confirmed[index],
            }
        )
    recent = buckets[-LAST_MINUTE_BUCKETS:]
    recent_seconds = sum(bucket["seconds"] for bucket in recent)
    return {
        "bucket_seconds": BUCKET_SECONDS,
        "window_seconds": WINDOW_SECONDS,
        "buckets": buckets,
        "last_minute": {
            name: round(sum(bucket[name] for bucket in recent) / recent_seconds, 2)
            for name in ("accepted", "confirmed")
        },
    }


def _bucket_floor(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole - timedelta(seconds=whole.timestamp() % BUCKET_SECONDS)


def _per_bucket(
    purchases: QuerySet[TicketPurchase], field: str, *, first: datetime, now: datetime
) -> list[int]:
    """One grouped query: purchases per second of `field`, folded into buckets."""
    rows = (
        purchases.filter(**{f"{field}__gte": first, f"{field}__lte": now})
        .annotate(second=TruncSecond(field))
        .values_list("second")
        .annotate(n=Count("pk"))
    )
    counts = [0] * BUCKETS
    for second, n in rows:
        index = int((second - first).total_seconds()) // BUCKET_SECONDS
        counts[min(index, BUCKETS - 1)] += n
    return counts
