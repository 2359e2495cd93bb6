"""Delivering the tickets of one purchase: the confirmation e-mail, then
completed. (The batch mailer, tickets/delivery/mailer.py, delivers many at once.)
"""

import logging
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from project.log_context import bind_purchase
from tickets.audit import purchase_log
from tickets.delivery.emails import refund_message, send_purchase_confirmation
from tickets.errors import (
    IllegalTransition,
)
from tickets.inventory import purchase_locked
from tickets.models import TicketPurchase

logger = logging.getLogger(__name__)

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


def purchase_deliver(*, purchase_id: UUID | str) -> TicketPurchase:
    """Sends the confirmation e-mail, then marks the purchase completed.

    The mail goes out before the lock is taken; a redelivered task may send it
    twice (at-least-once), never leaves a confirmed purchase undelivered.
    """
    purchase = TicketPurchase.objects.select_related("ticket").get(pk=purchase_id)
    if purchase.status != Status.CONFIRMED:
        return purchase
    send_purchase_confirmation(purchase)
    with bind_purchase(purchase):
        logger.info("purchase %s: confirmation e-mail sent", purchase.pk)
    with transaction.atomic():
        purchase = purchase_locked(purchase_id)
        if purchase.status == Status.CONFIRMED:
            purchase.status = Status.COMPLETED
            purchase.completed_at = timezone.now()
            purchase.save(update_fields=["status", "completed_at", "updated_at"])
            purchase_log(purchase, "delivered", from_status=Status.CONFIRMED, note="e-mail sent")
    return purchase


def purchase_resend_tickets(*, purchase_id: UUID | str) -> TicketPurchase:
    """Admin: send the confirmation e-mail again for a delivered purchase."""
    purchase = TicketPurchase.objects.select_related("ticket").get(pk=purchase_id)
    if purchase.status not in (Status.CONFIRMED, Status.COMPLETED):
        raise IllegalTransition("only confirmed or completed purchases have tickets to send")
    send_purchase_confirmation(purchase)
    purchase_log(purchase, "tickets resent", from_status=purchase.status)
    return purchase


def purchase_refund_notice(*, purchase_id: UUID | str) -> bool:
    """E-mails the buyer that their money went back (the task's work); False when
    the purchase's payment is not refunded. A task run twice may send it twice."""
    purchase = TicketPurchase.objects.select_related("ticket").get(pk=purchase_id)
    if purchase.payment_status != PaymentStatus.REFUNDED:
        return False
    refund_message(purchase).send()
    return True
