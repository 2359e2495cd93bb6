"""The one owner of a ticket's seat counters, and of the order rows are locked in.

Every seat of a ticket is in exactly one place, and these counters say where:

    total = available (on sale) + offered (to waiting-list entries)
          + list_held (kept for the waiting list) + seats held by pending
            reserved purchases + seats sold (confirmed, completed)

`unpaid_held_quantity` counts the held seats whose purchase has no payment yet
(capped by UNPAID_HOLDS_MAX_PERCENT). Each function here is one conditional
UPDATE that keeps that equation, with database check constraints behind it;
nothing else in the project writes these columns.

Locks are always taken purchase, then ticket, then waiting entry
(`lock_in_order`), so two transitions never wait on each other in a circle.
Callers own the transaction.
"""

from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.db.models import F

from tickets.errors import InventoryInvariantBroken
from tickets.models import Ticket, TicketPurchase, WaitingListEntry
from tickets.sold_out import sold_out_forget_on_commit

# --- Locks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Locked:
    purchase: TicketPurchase | None = None
    entry: WaitingListEntry | None = None


def lock_in_order(
    *,
    purchase_id: UUID | str | None = None,
    ticket_id: int | None = None,
    entry_id: UUID | str | None = None,
) -> Locked:
    """Locks the rows asked for, always in the one order: purchase, ticket,
    waiting entry. An entry's ticket is locked before the entry even when not
    asked for: every path that changes seats and entries goes through the
    ticket's row first (seats_returned locks it, then reads the line)."""
    purchase = entry = None
    if purchase_id is not None:
        purchase = TicketPurchase.objects.select_for_update().get(pk=purchase_id)
    if entry_id is not None and ticket_id is None:
        ticket_id = WaitingListEntry.objects.values_list("ticket_id", flat=True).get(pk=entry_id)
    if ticket_id is not None:
        Ticket.objects.select_for_update(no_key=True).only("pk").get(pk=ticket_id)
    if entry_id is not None:
        entry = WaitingListEntry.objects.select_for_update().get(pk=entry_id)
    return Locked(purchase=purchase, entry=entry)


def purchase_locked(purchase_id: UUID | str) -> TicketPurchase:
    return lock_in_order(purchase_id=purchase_id).purchase


def entry_locked(entry_id: UUID | str) -> WaitingListEntry:
    """The waiting entry, locked after its ticket's row."""
    return lock_in_order(entry_id=entry_id).entry


def ticket_lines_locked(ticket_id: int) -> tuple[bool, int]:
    """Locks the ticket's row and reads what giving seats back depends on:
    whether waiting-list offers are paused, and the seats kept for the line."""
    return (
        Ticket.objects.select_for_update(no_key=True)
        .values_list("waiting_list_paused", "list_held_quantity")
        .get(pk=ticket_id)
    )


# --- A new ticket ------------------------------------------------------------------------


def ticket_create(*, total_quantity: int, **fields) -> Ticket:
    """A ticket whose seats are all on sale."""
    return Ticket.objects.create(
        total_quantity=total_quantity, available_quantity=total_quantity, **fields
    )


def ticket_seats_initial(ticket: Ticket) -> None:
    """An unsaved ticket (the admin's add form) starts with every seat on sale."""
    ticket.available_quantity = ticket.total_quantity


# --- Seats taken by buyers ---------------------------------------------------------------


def seats_take(*, ticket_id: int, quantity: int, unpaid: bool = False) -> bool:
    """Takes `quantity` seats off sale; False when too few are left.

    An `unpaid` hold (no payment token yet) is also counted in
    `unpaid_held_quantity`, which may not pass UNPAID_HOLDS_MAX_PERCENT of the
    seats: people who have not paid can never hold a whole sale."""
    seats = Ticket.objects.filter(pk=ticket_id, available_quantity__gte=quantity)
    change = {"available_quantity": F("available_quantity") - quantity}
    if unpaid:
        cap = F("total_quantity") * settings.UNPAID_HOLDS_MAX_PERCENT / 100
        seats = seats.filter(unpaid_held_quantity__lte=cap - quantity)
        change["unpaid_held_quantity"] = F("unpaid_held_quantity") + quantity
    return seats.update(**change) == 1


def seats_take_batch(*, ticket_id: int, paid: int, unpaid: int) -> None:
    """A batch's seats, all at once (the batch decided who gets them with the
    ticket's row locked, so this cannot miss)."""
    taken = paid + unpaid
    if not taken:
        return
    changed = Ticket.objects.filter(pk=ticket_id, available_quantity__gte=taken).update(
        available_quantity=F("available_quantity") - taken,
        unpaid_held_quantity=F("unpaid_held_quantity") + unpaid,
    )
    if changed != 1:
        raise InventoryInvariantBroken(f"cannot take {taken} seats of ticket {ticket_id}")


def unpaid_hold_settle(purchase: TicketPurchase) -> None:
    """The purchase's hold is paid for: it no longer counts as an unpaid hold."""
    if purchase.holds_unpaid:
        Ticket.objects.filter(pk=purchase.ticket_id).update(
            unpaid_held_quantity=F("unpaid_held_quantity") - purchase.quantity
        )
        purchase.holds_unpaid = False


# --- Seats coming back -------------------------------------------------------------------


def seats_move(
    ticket_id: int, *, to_sale: int, to_offers: int, to_line: int, unpaid: int, returned: int
) -> None:
    """Seats coming back, dealt out: `to_sale` on sale, `to_offers` offered to
    waiting entries, `to_line` kept for the line (each may be negative: seats
    leaving that place), `unpaid` of them held by an unpaid hold. One
    conditional UPDATE; the ticket's row is locked by the caller."""
    # After the change free + offered + kept + unpaid holds must still fit in the seats.
    room = (
        F("total_quantity")
        - F("offered_quantity")
        - F("list_held_quantity")
        - F("unpaid_held_quantity")
    )
    changed = Ticket.objects.filter(
        pk=ticket_id,
        offered_quantity__gte=max(0, -to_offers),
        list_held_quantity__gte=max(0, -to_line),
        unpaid_held_quantity__gte=unpaid,
        available_quantity__lte=room + unpaid - to_sale - to_offers - to_line,
    ).update(
        available_quantity=F("available_quantity") + to_sale,
        offered_quantity=F("offered_quantity") + to_offers,
        list_held_quantity=F("list_held_quantity") + to_line,
        unpaid_held_quantity=F("unpaid_held_quantity") - unpaid,
    )
    if changed != 1:
        raise InventoryInvariantBroken(f"cannot return {returned} seats to ticket {ticket_id}")
    if to_sale > 0:
        sold_out_forget_on_commit(ticket_id)


def seats_offer_from_sale(*, ticket_id: int, quantity: int) -> bool:
    """Free seats offered to a waiting entry by hand; False when too few are free."""
    return (
        Ticket.objects.filter(pk=ticket_id, available_quantity__gte=quantity).update(
            available_quantity=F("available_quantity") - quantity,
            offered_quantity=F("offered_quantity") + quantity,
        )
        == 1
    )


def seats_offer_taken(*, ticket_id: int, quantity: int) -> bool:
    """An offer is bought: its seats move from offered to held by the purchase."""
    return (
        Ticket.objects.filter(pk=ticket_id, offered_quantity__gte=quantity).update(
            offered_quantity=F("offered_quantity") - quantity
        )
        == 1
    )


def seats_kept_to_sale(*, ticket_id: int) -> None:
    """The seats kept for the waiting list go on sale (offers paused)."""
    Ticket.objects.filter(pk=ticket_id).update(
        available_quantity=F("available_quantity") + F("list_held_quantity"),
        list_held_quantity=0,
    )
    sold_out_forget_on_commit(ticket_id)


# --- Capacity ----------------------------------------------------------------------------


def capacity_add(*, ticket_id: int, seats: int) -> None:
    """New seats exist; the caller deals them out (seats_move) in the same transaction."""
    Ticket.objects.filter(pk=ticket_id).update(total_quantity=F("total_quantity") + seats)


def capacity_remove(*, ticket_id: int, seats: int) -> bool:
    """Removes free seats only: total and available move together, so a stale
    admin page can never undo sales, and seats sold, held or offered cannot be
    taken away. False when fewer are free."""
    return (
        Ticket.objects.filter(pk=ticket_id, available_quantity__gte=seats).update(
            total_quantity=F("total_quantity") - seats,
            available_quantity=F("available_quantity") - seats,
        )
        == 1
    )
