"""A card holder's dispute of a paid purchase (a chargeback), as the gateway
reports it (gateways/webhooks.py retrieves the dispute; the event's body is
not trusted).

Opened: the money has left, so the purchase's codes that were not used yet
are void (a scan answers 410 and says why), in the same transaction as the
record and its audit row. Won: the money is back, so those codes are valid
again, unless the event has begun (a door that turned them away cannot be
undone) or the purchase was refunded meanwhile. Lost: they stay void. Applying
the same state twice changes nothing.
"""

import logging
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from gateways import Dispute, DisputeState
from tickets.audit import purchase_log
from tickets.inventory import purchase_locked
from tickets.models import TicketCode, TicketPurchase

logger = logging.getLogger(__name__)

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus
Disputed = TicketPurchase.Dispute
Code = TicketCode.Status

PAID = (Status.CONFIRMED, Status.COMPLETED)


def purchase_dispute(*, purchase_id: UUID | str, dispute: Dispute) -> TicketPurchase:
    """Applies the dispute's state to the purchase (see the module's docstring);
    raises TicketPurchase.DoesNotExist for a key that is no purchase."""
    with transaction.atomic():
        purchase = purchase_locked(purchase_id)
        if dispute.state == DisputeState.OPEN:
            _opened(purchase, dispute.reason)
        elif purchase.dispute == Disputed.OPEN or not purchase.dispute:
            _closed(purchase, dispute.state)
    return purchase


def _opened(purchase: TicketPurchase, reason: str) -> None:
    if purchase.dispute == Disputed.OPEN:
        return
    voided = purchase.codes.filter(status=Code.VALID).update(status=Code.VOID)
    purchase.dispute, purchase.dispute_reason = Disputed.OPEN, reason
    purchase.save(update_fields=["dispute", "dispute_reason", "updated_at"])
    purchase_log(purchase, "dispute opened", note=f"{reason or 'no reason'}; {voided} code(s) void")
    logger.warning("purchase %s: payment disputed (%s), codes void", purchase.pk, reason)


def _closed(purchase: TicketPurchase, state: DisputeState) -> None:
    restored = 0
    if state == DisputeState.WON and _codes_may_return(purchase):
        # Only codes the dispute voided: a used code stayed used.
        restored = purchase.codes.filter(status=Code.VOID).update(status=Code.VALID)
    purchase.dispute = Disputed.WON if state == DisputeState.WON else Disputed.LOST
    purchase.save(update_fields=["dispute", "updated_at"])
    purchase_log(purchase, f"dispute {purchase.dispute}", note=f"{restored} code(s) valid again")


def _codes_may_return(purchase: TicketPurchase) -> bool:
    not_refunded = purchase.payment_status not in (
        PaymentStatus.REFUND_PENDING,
        PaymentStatus.REFUNDED,
    )
    return (
        purchase.status in PAID
        and not_refunded
        and purchase.dispute == Disputed.OPEN
        and purchase.ticket.starts_at > timezone.now()
    )
