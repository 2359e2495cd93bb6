"""The purchase audit trail: services append a row at every transition and
every staff action, inside the transaction that makes the change."""

from tickets.models import PurchaseEvent, Ticket, TicketPurchase


def purchase_log(
    purchase: TicketPurchase,
    action: str,
    *,
    from_status: str = "",
    to_status: str = "",
    note: str = "",
) -> None:
    PurchaseEvent.objects.create(
        ticket_id=purchase.ticket_id,
        purchase=purchase,
        action=action,
        from_status=from_status,
        to_status=to_status or purchase.status,
        gateway_reference=purchase.gateway_reference,
        note=note,
    )


def ticket_log(ticket: Ticket, action: str, *, note: str = "") -> None:
    PurchaseEvent.objects.create(ticket=ticket, action=action, note=note)
