"""The purchase audit trail: services append a row at every transition and
every staff action, inside the transaction that makes the change."""

from project.actor import current_actor
from tickets.line import forget_on_commit
from tickets.metrics import count_transitions
from tickets.models import PurchaseEvent, Ticket, TicketPurchase

PENDING = TicketPurchase.Status.PENDING


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
    count_transitions([purchase], from_status=from_status)
    if from_status == PENDING:  # anything done to a purchase in line ends its fast answer
        forget_on_commit([purchase.pk])


def ticket_log(ticket: Ticket, action: str, *, note: str = "") -> None:
    PurchaseEvent.objects.create(ticket=ticket, action=action, note=note)


def purchase_log_many(
    purchases: list[TicketPurchase],
    action: str,
    *,
    from_status: str = "",
    note: str = "",
) -> None:
    """The same transition of many purchases, as one INSERT. `bulk_create`
    skips `AuditEvent.save`, so the actor is read here."""
    actor = current_actor()[:150]
    PurchaseEvent.objects.bulk_create(
        PurchaseEvent(
            ticket_id=purchase.ticket_id,
            purchase_id=purchase.pk,
            action=action,
            from_status=from_status,
            to_status=purchase.status,
            gateway_reference=purchase.gateway_reference,
            note=note[:255],
            actor=actor,
        )
        for purchase in purchases
    )
    count_transitions(purchases, from_status=from_status)
    if from_status == PENDING:
        forget_on_commit(purchase.pk for purchase in purchases)
