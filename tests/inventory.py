"""The spec's inventory equation, checked against the database: the one audit
the tests hold every seat movement to (tickets/inventory.py moves the counters)."""

from django.db.models import Sum

from tickets.models import Ticket, TicketPurchase, WaitingListEntry

Status = TicketPurchase.Status


def _seats(queryset) -> int:
    return queryset.aggregate(n=Sum("quantity"))["n"] or 0


def assert_inventory_adds_up(ticket) -> None:
    """Every seat is in exactly one place: on sale, offered to one open offer,
    kept for the line, held by a pending reserved purchase, or sold; unpaid
    holds are counted as such."""
    ticket = Ticket.objects.get(pk=ticket.pk)
    purchases = TicketPurchase.objects.filter(ticket=ticket)
    held = purchases.filter(status=Status.PENDING, inventory_reserved=True)
    sold = purchases.filter(status__in=[Status.CONFIRMED, Status.COMPLETED])
    offers = WaitingListEntry.objects.filter(ticket=ticket, state=WaitingListEntry.State.OFFERED)
    assert 0 <= ticket.available_quantity <= ticket.total_quantity
    assert ticket.total_quantity - ticket.available_quantity == (
        _seats(held) + _seats(sold) + ticket.offered_quantity + ticket.list_held_quantity
    )
    assert ticket.offered_quantity == _seats(offers)
    assert ticket.unpaid_held_quantity == _seats(held.filter(holds_unpaid=True))
