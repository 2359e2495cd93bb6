"""Refunds of destination payments, with the discipline of ticket refunds
(tickets/refunds/services.py).

A refund is recorded `refund_pending` before the gateway is called, so a crash
between the steps is finished by the sweep; the gateway refunds under the
refund's own key (gateways/attempt.py), and its outcome is refunded (recorded),
pending or unknown (left `refund_pending`: the sweep asks again), or definitely
not refunded (undone). Money captured after its booking ended (a transfer that
settles after a cancellation) goes back the same way and is recorded on the
payment. Nothing here reads or writes ticket purchases.
"""

import logging
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateways import RefundOutcome, attempt
from payments import selectors
from payments.audit import booking_log
from payments.errors import RefundRefused
from payments.locks import payment_locked
from payments.models import Booking, Payment
from project.errors import DependencyUnavailable
from project.queue import enqueue_on_commit
from project.sweeps import sweep
from project.tasks import BOOKING_REFUND_TASK

logger = logging.getLogger(__name__)

BookingStatus = Booking.Status
PaymentStatus = Payment.Status


def payment_refund(*, payment_id: UUID | str) -> Payment:
    """Staff refund of a completed payment; its booking is refunded with it.
    Idempotent: a refunded payment, or one whose refund is under way, is
    returned as it is. An unknown outcome leaves it `refund_pending`."""
    with transaction.atomic():
        payment = payment_locked(payment_id)
        if payment.status in (PaymentStatus.REFUND_PENDING, PaymentStatus.REFUNDED):
            return payment
        if payment.status != PaymentStatus.COMPLETED:
            raise RefundRefused(f"a {payment.status} payment cannot be refunded")
        _mark_refund_pending(payment, reason="staff_refund")
    try:
        return payment_refund_finish(payment_id=payment_id)
    except DependencyUnavailable as exc:
        logger.warning("payment %s: refund outcome unknown (%s); the sweep asks", payment_id, exc)
        return Payment.objects.select_related("booking").get(pk=payment_id)


def payment_refund_unhonoured(*, payment_id: UUID | str) -> Payment:
    """Money was captured for a booking that ended meanwhile (cancelled, failed):
    it goes back, and the payment says so (refunded, `refund_reason`)."""
    with transaction.atomic():
        payment = payment_locked(payment_id)
        if payment.status in (
            PaymentStatus.COMPLETED,
            PaymentStatus.REFUND_PENDING,
            PaymentStatus.REFUNDED,
        ):
            return payment  # kept, or already going back
        reason = f"captured_after_{payment.booking.status}"
        _mark_refund_pending(payment, reason=reason)
        logger.warning(
            "payment %s: captured while its booking is %s, refunding", payment.id, reason
        )
    return payment_refund_finish(payment_id=payment_id)


def _mark_refund_pending(payment: Payment, *, reason: str) -> None:
    before = payment.status
    payment.status = PaymentStatus.REFUND_PENDING
    payment.refund_reason = reason
    payment.save(update_fields=["status", "refund_reason", "updated_at"])
    booking_log(payment.booking, "refund started", from_status=before, note=reason)


def payment_refund_finish(*, payment_id: UUID | str) -> Payment:
    """Asks the gateway to refund (or what became of the refund asked before) and
    records its answer. Raises TransientGatewayError when the outcome is unknown,
    changing nothing. No lock is held across the call; safe to run twice."""
    payment = Payment.objects.select_related("booking").get(pk=payment_id)
    if payment.status != PaymentStatus.REFUND_PENDING:
        return payment
    result = attempt.refund(key=str(payment.id), amount=payment.amount)
    if result.outcome == RefundOutcome.REFUNDED:
        return _refund_record(payment_id)
    if result.outcome == RefundOutcome.PENDING:
        logger.info("payment %s: refund pending at the gateway; the sweep asks again", payment.id)
        return payment
    _refund_undo(payment_id)
    raise RefundRefused(f"the gateway did not refund: {result.reason or result.outcome}")


def _refund_record(payment_id: UUID | str) -> Payment:
    with transaction.atomic():
        payment = payment_locked(payment_id)
        if payment.status != PaymentStatus.REFUND_PENDING:
            return payment
        payment.status = PaymentStatus.REFUNDED
        payment.refunded_at = timezone.now()
        payment.save(update_fields=["status", "refunded_at", "updated_at"])
        booking = payment.booking
        before = booking.status
        if booking.status == BookingStatus.CONFIRMED:
            booking.status = BookingStatus.REFUNDED
            booking.save(update_fields=["status", "updated_at"])
        booking_log(
            booking,
            "refunded",
            from_status=before,
            gateway_reference=payment.gateway_reference,
            note=payment.refund_reason,
        )
    logger.info("payment %s refunded (%s)", payment.id, payment.refund_reason)
    return payment


def _refund_undo(payment_id: UUID | str) -> None:
    """The gateway definitely refunded nothing: a paid booking's payment is
    completed again; money captured after the booking ended is no longer there."""
    with transaction.atomic():
        payment = payment_locked(payment_id)
        if payment.status != PaymentStatus.REFUND_PENDING:
            return
        paid = payment.booking.status == BookingStatus.CONFIRMED
        payment.status = PaymentStatus.COMPLETED if paid else PaymentStatus.FAILED
        payment.refund_reason = ""
        payment.save(update_fields=["status", "refund_reason", "updated_at"])
        booking_log(
            payment.booking,
            "refund undone",
            note=f"gateway refunded nothing; payment {payment.status}",
        )


def payments_finish_refunds() -> int:
    """The beat's sweep: refunds not known done (a crash between the steps, a
    timeout, a refund pending at the gateway) are asked about again."""
    waited = timedelta(seconds=settings.REQUEUE_AFTER_SECONDS)
    return sweep(
        selectors.payments_refund_unfinished(older_than_seconds=settings.REQUEUE_AFTER_SECONDS),
        label="destination refunds unfinished",
        order_by="updated_at",
        hold=waited,
        handle=lambda pk: enqueue_on_commit(BOOKING_REFUND_TASK, str(pk)),
    )
