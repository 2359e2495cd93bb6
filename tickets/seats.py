"""Seats coming back to a ticket, and changes of its capacity.

Whatever frees seats (an unpaid hold expiring, a cancel, a failed payment, a
refund, capacity added) gives them back here, inside its own transaction:
the waiting list is offered them first (tickets/waiting_list/offers.py), the
rest go back on sale. The counters themselves move in tickets/inventory.py.
"""

import logging

from django.db import transaction

from tickets import inventory
from tickets.audit import ticket_log
from tickets.errors import (
    CapacityRefused,
)
from tickets.models import Ticket, TicketPurchase
from tickets.waiting_list.offers import seats_returned

logger = logging.getLogger(__name__)

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


def purchase_seats_release(purchase: TicketPurchase) -> None:
    """Gives a locked purchase's reserved seats back, inside the caller's
    transaction: the ticket's waiting list is offered them first, the rest go
    back on sale."""
    if purchase.inventory_reserved:
        seats_returned(
            ticket_id=purchase.ticket_id,
            seats=purchase.quantity,
            unpaid=purchase.quantity if purchase.holds_unpaid else 0,
        )
        purchase.inventory_reserved = False
        purchase.holds_unpaid = False


def ticket_change_capacity(*, ticket_id: int, delta: int) -> Ticket:
    """Adds (or, with a negative delta, removes) seats. Added seats go to the
    waiting list first, like any seats coming back; removed ones must be free:
    total and available move together in one conditional UPDATE, so a stale
    admin page can never undo sales, and seats sold, held or offered cannot be
    taken away."""
    with transaction.atomic():
        if delta > 0:
            inventory.capacity_add(ticket_id=ticket_id, seats=delta)
            seats_returned(ticket_id=ticket_id, seats=delta)
        elif not inventory.capacity_remove(ticket_id=ticket_id, seats=-delta):
            raise CapacityRefused(
                f"only the free seats can be removed; {-delta} asked for is more than are free"
            )
        ticket = Ticket.objects.get(pk=ticket_id)
        ticket_log(
            ticket, "capacity changed", note=f"{delta:+d} seats, total {ticket.total_quantity}"
        )
    logger.info("ticket %s: capacity changed by %+d", ticket_id, delta)
    return ticket
