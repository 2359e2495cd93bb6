"""The inventory equation, read from the database in one statement: every
seat of a ticket is in exactly one place (on sale, offered to one open offer,
kept for the line, held by a pending reserved purchase, or sold), and the
counters of offered seats and unpaid holds match the rows behind them.

One statement, so it sees one snapshot: a sale moving while it runs cannot
make it read a half-made change (each change moves a counter and its rows in
one transaction). The tests hold every seat movement to it
(tests/inventory.py), the bench audits its sales with it, and the beat runs
it for the tickets on sale (`inventory_audit_record`), which the
`tickets_inventory_broken` gauge reports.
"""

import time
from dataclasses import dataclass

from django.db.models import IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from project.redis_client import redis_client
from tickets.models import Ticket, TicketPurchase, WaitingListEntry
from tickets.selectors import tickets_on_sale

Status = TicketPurchase.Status
SOLD = (Status.CONFIRMED, Status.COMPLETED)

# The beat's last audit, for the web's metrics page: ticket id -> "1" when broken.
AUDIT_KEY = "metrics:inventory_audit"
AUDIT_AT_FIELD = "at"


@dataclass(frozen=True)
class Balance:
    ticket_id: int
    total: int
    available: int
    offered: int  # the ticket's counter
    kept: int
    unpaid_held: int  # the ticket's counter
    held: int  # seats of pending reserved purchases
    sold: int
    open_offer_seats: int
    unpaid_hold_seats: int

    @property
    def problems(self) -> list[str]:
        found = []
        if not 0 <= self.available <= self.total:
            found.append(f"available {self.available} outside 0..{self.total}")
        placed = self.held + self.sold + self.offered + self.kept
        if self.total - self.available != placed:
            found.append(
                f"taken {self.total - self.available} != held {self.held} + sold {self.sold}"
                f" + offered {self.offered} + kept {self.kept}"
            )
        if self.offered != self.open_offer_seats:
            found.append(f"offered {self.offered} != open offers' {self.open_offer_seats}")
        if self.unpaid_held != self.unpaid_hold_seats:
            found.append(
                f"unpaid held {self.unpaid_held} != unpaid holds' {self.unpaid_hold_seats}"
            )
        return found

    @property
    def adds_up(self) -> bool:
        return not self.problems


def _seats(queryset) -> Subquery:
    summed = (
        queryset.filter(ticket_id=OuterRef("pk"))
        .order_by()
        .values("ticket_id")
        .annotate(n=Sum("quantity"))
        .values("n")
    )
    return Coalesce(Subquery(summed, output_field=IntegerField()), Value(0))


def balances(ticket_ids) -> list[Balance]:
    """The equation's terms for each ticket, in one statement."""
    held = TicketPurchase.objects.filter(status=Status.PENDING, inventory_reserved=True)
    rows = (
        Ticket.objects.filter(pk__in=list(ticket_ids))
        .annotate(
            held=_seats(held),
            sold=_seats(TicketPurchase.objects.filter(status__in=SOLD)),
            open_offer_seats=_seats(
                WaitingListEntry.objects.filter(state=WaitingListEntry.State.OFFERED)
            ),
            unpaid_hold_seats=_seats(held.filter(holds_unpaid=True)),
        )
        .order_by("pk")
        .values_list(
            "pk",
            "total_quantity",
            "available_quantity",
            "offered_quantity",
            "list_held_quantity",
            "unpaid_held_quantity",
            "held",
            "sold",
            "open_offer_seats",
            "unpaid_hold_seats",
        )
    )
    return [Balance(*row) for row in rows]


def balance(ticket_id: int) -> Balance:
    return balances([ticket_id])[0]


def inventory_audit_record() -> int:
    """The beat's audit of the tickets on sale: stores which add up for the
    metrics page; returns how many do not."""
    on_sale = list(tickets_on_sale().values_list("pk", flat=True))
    checked = balances(on_sale)
    mapping = {str(b.ticket_id): "0" if b.adds_up else "1" for b in checked}
    mapping[AUDIT_AT_FIELD] = str(time.time())
    pipe = redis_client().pipeline(transaction=True)
    pipe.delete(AUDIT_KEY)
    pipe.hset(AUDIT_KEY, mapping=mapping)
    pipe.execute()
    return sum(not b.adds_up for b in checked)


def inventory_audit_last() -> tuple[dict[int, bool], float | None]:
    """The last audit: ticket id -> broken, and when it ran (None: never)."""
    stored = redis_client().hgetall(AUDIT_KEY)
    at = stored.pop(AUDIT_AT_FIELD.encode(), None)
    broken = {int(ticket): flag == b"1" for ticket, flag in stored.items()}
    return broken, float(at) if at is not None else None


__all__ = ["Balance", "balance", "balances", "inventory_audit_last", "inventory_audit_record"]
