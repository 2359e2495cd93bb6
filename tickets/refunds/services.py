"""Refunds of ticket purchases.

A refund is two steps with the gateway call between them, and survives a crash
at any point: `refund_pending` is recorded first (for a staff refund, in the
same transaction that voids the codes, so none is scanned at the door while
the money goes back), then the gateway refunds under the purchase's key, then
the refund is recorded as done. A purchase left in `refund_pending` by a crash
is finished by the refund sweep (tickets/sale/sweeps.py); asking the gateway
twice refunds once.
"""

import logging
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from gateways import RefundOutcome, attempt
from project.errors import DependencyUnavailable
from project.queue import enqueue_on_commit
from project.tasks import REFUND_MAIL_TASK
from tickets.audit import purchase_log
from tickets.errors import (
    RefundRefused,
)
from tickets.inventory import purchase_locked
from tickets.models import TicketCode, TicketPurchase
from tickets.seats import purchase_seats_release

logger = logging.getLogger(__name__)

# The audit action of a refund the gateway definitely did not make (the admin filters on it).
REFUND_UNDONE = "refund undone"

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


HONOURED_STATUSES = (Status.CONFIRMED, Status.COMPLETED, Status.REFUNDED)


def purchase_refund(
    *, purchase_id: UUID | str, allow_used: bool = False, reason: str = "staff_refund"
) -> TicketPurchase:
    """Staff refund of a paid purchase: the money goes back, the codes are void
    and the seats return to sale. A code already used blocks it unless
    `allow_used`.

    Idempotent, and two at once serialize on the purchase's row: a refunded
    purchase, or one whose refund is already under way (a second click, the
    sweep), is returned as it is. The codes are void from the moment the refund
    starts and valid again only if the gateway definitely did not refund; an
    answer that never came (a timeout) leaves the purchase `refund_pending`, and
    the refund sweep asks the gateway until it knows."""
    with transaction.atomic():
        purchase = purchase_locked(purchase_id)
        if purchase.payment_status == PaymentStatus.REFUND_PENDING:
            return purchase
        if purchase.status == Status.REFUNDED:
            return purchase
        if purchase.status not in (Status.CONFIRMED, Status.COMPLETED):
            raise RefundRefused(f"a {purchase.status} purchase cannot be refunded")
        purchase.codes.filter(status=TicketCode.Status.VALID).update(status=TicketCode.Status.VOID)
        # Checked after voiding: a scan that raced us has committed by now (or is blocked).
        if not allow_used and purchase.codes.filter(status=TicketCode.Status.USED).exists():
            raise RefundRefused("a code of this purchase was already used at the door")
        _mark_refund_pending(purchase, reason=reason)
    try:
        return purchase_refund_finish(purchase_id=purchase_id)
    except DependencyUnavailable as exc:
        logger.warning("purchase %s: refund outcome unknown (%s); the sweep asks", purchase_id, exc)
        return TicketPurchase.objects.get(pk=purchase_id)


def _mark_refund_pending(purchase: TicketPurchase, *, reason: str) -> None:
    purchase.payment_status = PaymentStatus.REFUND_PENDING
    purchase.refund_reason = reason
    purchase.save(update_fields=["payment_status", "refund_reason", "updated_at"])
    purchase_log(purchase, "refund started", from_status=purchase.status, note=reason)


def refund_unhonoured(purchase_id: UUID | str) -> TicketPurchase:
    """Money was captured for a purchase that can no longer be confirmed (it
    expired, was cancelled or failed meanwhile): it goes back, and the purchase
    says so (`payment_status` refunded, `refund_reason`)."""
    with transaction.atomic():
        purchase = purchase_locked(purchase_id)
        if purchase.status in HONOURED_STATUSES:
            return purchase  # confirmed after all: the capture is kept
        if purchase.payment_status not in (PaymentStatus.REFUND_PENDING, PaymentStatus.REFUNDED):
            _mark_refund_pending(purchase, reason=f"captured_after_{purchase.status}")
            logger.warning(
                "purchase %s: captured while %s, refunding", purchase.id, purchase.status
            )
    return purchase_refund_finish(purchase_id=purchase_id)


def purchase_refund_finish(*, purchase_id: UUID | str) -> TicketPurchase:
    """Takes a `refund_pending` purchase's money back at the gateway, or asks what
    became of the refund already asked for (the refund has a key of its own),
    and records what the gateway says: refunded is recorded; pending stays
    pending for the sweep to ask again; only a definite "not refunded" undoes.
    An unknown outcome raises TransientGatewayError and changes nothing. No lock
    is held across the call; safe to run any number of times."""
    purchase = TicketPurchase.objects.get(pk=purchase_id)
    if purchase.payment_status != PaymentStatus.REFUND_PENDING:
        return purchase
    result = attempt.refund(key=str(purchase.id), amount=purchase.total_amount)
    if result.outcome == RefundOutcome.REFUNDED:
        return _refund_record(purchase_id)
    if result.outcome == RefundOutcome.PENDING:
        logger.info("purchase %s: refund pending at the gateway; the sweep asks again", purchase.id)
        return purchase
    _refund_undo(purchase_id)
    raise RefundRefused(f"the gateway did not refund: {result.reason or result.outcome}")


def _refund_undo(purchase_id: UUID | str) -> None:
    """The gateway definitely refunded nothing (it refused, or the refund failed
    there): a paid purchase is paid again (its void codes can only have been
    voided by this refund); a purchase whose late capture the gateway no longer
    holds has no money to give back."""
    with transaction.atomic():
        purchase = purchase_locked(purchase_id)
        if purchase.payment_status != PaymentStatus.REFUND_PENDING:
            return
        if purchase.status in (Status.CONFIRMED, Status.COMPLETED):
            purchase.codes.filter(status=TicketCode.Status.VOID).update(
                status=TicketCode.Status.VALID
            )
            purchase.payment_status = PaymentStatus.COMPLETED
        else:
            logger.error("purchase %s: the gateway holds no capture to refund", purchase.id)
            purchase.payment_status = PaymentStatus.FAILED
        note = f"gateway refunded nothing; payment {purchase.payment_status}"
        purchase.refund_reason = ""
        purchase.save(update_fields=["payment_status", "refund_reason", "updated_at"])
        purchase_log(purchase, REFUND_UNDONE, from_status=purchase.status, note=note)


def _refund_record(purchase_id: UUID | str) -> TicketPurchase:
    """The gateway refunded: a paid purchase becomes refunded, its codes void
    and its seats back on sale (also after the event: the inventory always adds
    up); an unhonoured capture is recorded as refunded on the ended purchase."""
    with transaction.atomic():
        purchase = purchase_locked(purchase_id)
        if purchase.payment_status != PaymentStatus.REFUND_PENDING:
            return purchase
        before = purchase.status
        if purchase.status in (Status.CONFIRMED, Status.COMPLETED):
            purchase.codes.exclude(status=TicketCode.Status.USED).update(
                status=TicketCode.Status.VOID
            )
            purchase_seats_release(purchase)
            purchase.status = Status.REFUNDED
        purchase.payment_status = PaymentStatus.REFUNDED
        purchase.refunded_at = timezone.now()
        purchase.save()
        purchase_log(purchase, "refunded", from_status=before, note=purchase.refund_reason)
        enqueue_on_commit(REFUND_MAIL_TASK, str(purchase.id))
    logger.info("purchase %s: refund recorded (%s)", purchase.id, purchase.refund_reason)
    return purchase
