"""The sale's figures counted where they happen (docs/metrics.md): purchases
reaching each state, and the time from the 202 to `confirmed`.

Counted once the transaction that made the change commits, so a rolled-back
transition is never counted. The audit trail (tickets/audit.py) is the one
place every transition passes, and it calls `count_transitions`; the accept
path, which writes its audit row inside its INSERT on PostgreSQL, calls
`count_accepted`.
"""

from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter, Histogram

from tickets.models import TicketPurchase

Status = TicketPurchase.Status

PURCHASES = Counter(
    "tickets_purchases",
    "Purchases reaching each state; `reason` is the failure reason of `failed`.",
    ["outcome", "reason"],
)
ACCEPT_TO_CONFIRMED = Histogram(
    "tickets_accept_to_confirmed_seconds",
    "Time from a purchase's 202 to its `confirmed`.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
)

# The states a purchase moves into that an operator counts (the spec's machine).
COUNTED = frozenset(
    {
        Status.CONFIRMED,
        Status.COMPLETED,
        Status.FAILED,
        Status.EXPIRED,
        Status.CANCELLED,
        Status.REFUNDED,
    }
)


def count_accepted(how_many: int = 1) -> None:
    transaction.on_commit(lambda: PURCHASES.labels("accepted", "").inc(how_many))


def count_transitions(purchases: list[TicketPurchase], *, from_status: str) -> None:
    """Counts each purchase moving into a counted state (a row logged without
    a change of status, a resend say, counts nothing)."""
    moved = [
        (
            str(p.status),
            p.failure_reason if p.status == Status.FAILED else "",
            _seconds_to_confirm(p),
        )
        for p in purchases
        if p.status in COUNTED and p.status != from_status
    ]
    if moved:
        transaction.on_commit(lambda: _count(moved))


# Read from the instance's loaded values only: a field a caller deferred (.only())
# must not cost a query per purchase to be counted.


def _reason(purchase: TicketPurchase) -> str:
    if purchase.status != Status.FAILED:
        return ""
    return purchase.__dict__.get("failure_reason") or ""


def _seconds_to_confirm(purchase: TicketPurchase) -> float | None:
    created = purchase.__dict__.get("created_at")
    if purchase.status != Status.CONFIRMED or created is None:
        return None
    confirmed = purchase.__dict__.get("confirmed_at") or timezone.now()
    return max(0.0, (confirmed - created).total_seconds())


def _count(moved: list[tuple[str, str, float | None]]) -> None:
    for outcome, reason, seconds in moved:
        PURCHASES.labels(outcome, reason or "").inc()
        if seconds is not None:
            ACCEPT_TO_CONFIRMED.observe(seconds)
