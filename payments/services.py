"""Every write to a destination booking and its payment, one function per transition.

The same rules as tickets/sale/purchases.py: each transition locks its rows (always the
payment, then its booking), re-reads them, returns early when the work is already
done (so a task delivered twice changes nothing) and raises a domain error on an
illegal move. No lock is held while the gateway is called: begin (short
transaction) -> charge (no transaction) -> complete or fail (short transaction).

Nothing here reads or writes ticket inventory or ticket purchases.
"""

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateways import GatewayResult, Outcome, attempt
from gateways.attempt import Action, PaymentView, Plan
from payments import refunds, selectors
from payments.audit import booking_log
from payments.errors import (
    BookingNotPending,
    DestinationUnavailable,
    GuestsInvalid,
    IllegalTransition,
    PaymentInProgress,
    TravelDateInvalid,
)
from payments.locks import payment_locked
from payments.models import Booking, Destination, Payment
from project.queue import enqueue_on_commit
from project.sweeps import claim_batch, sweep
from project.tasks import BOOKING_PROCESS_TASK, BOOKING_RECONCILE_TASK

logger = logging.getLogger(__name__)

BookingStatus = Booking.Status
PaymentStatus = Payment.Status
OPEN_PAYMENT_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)
# Statuses in which the payment kept (or already gave back) its capture.
HONOURED_STATUSES = (PaymentStatus.COMPLETED, PaymentStatus.REFUND_PENDING, PaymentStatus.REFUNDED)

# The workers' task names: the whole contract between these services and the
# workers (workers/payment_tasks.py registers its tasks under these names).


# --- Helpers -----------------------------------------------------------------------


def _payment_id_of(booking_id: UUID | str) -> UUID:
    return Payment.objects.values_list("pk", flat=True).get(booking_id=booking_id)


# --- Create and process ------------------------------------------------------------


def booking_create(
    *,
    destination_id: int,
    customer_name: str,
    customer_email: str,
    travel_date: date,
    guests: int,
    payment_method: str,
    payment_token: str = "",
) -> Booking:
    """Accepts a booking with its payment as pending; a worker charges it after commit.

    The total comes from the destination's price, never from the client. Without
    a token nothing is enqueued: the booking stays pending until the gateway
    settles the payment its own way (a bank transfer) and `payment_reconcile`
    applies that outcome.
    """
    destination = Destination.objects.filter(pk=destination_id, is_active=True).first()
    if destination is None:
        raise DestinationUnavailable()
    if travel_date <= timezone.localdate():
        raise TravelDateInvalid()
    if not 1 <= guests <= Booking.MAX_GUESTS:
        raise GuestsInvalid(f"A booking is for 1 to {Booking.MAX_GUESTS} guests.")
    total = destination.price_per_guest * guests
    with transaction.atomic():
        booking = Booking.objects.create(
            destination=destination,
            customer_name=customer_name,
            customer_email=customer_email,
            travel_date=travel_date,
            guests=guests,
            total_amount=total,
            currency=destination.currency,
        )
        payment = Payment.objects.create(
            booking=booking,
            amount=total,
            currency=destination.currency,
            method=payment_method,
            payment_token=payment_token,
        )
        booking_log(booking, "created", note=f"{guests} guest(s), {payment_method}")
        if payment_token:
            enqueue_on_commit(BOOKING_PROCESS_TASK, str(payment.id))
    return booking


def _payment_begin(payment_id: UUID | str) -> Payment | None:
    """Marks the payment as processing; None when there is nothing to charge."""
    with transaction.atomic():
        payment = payment_locked(payment_id)
        if payment.status not in OPEN_PAYMENT_STATUSES or not payment.payment_token:
            return None
        if payment.booking.status != BookingStatus.PENDING:
            return None
        if payment.status == PaymentStatus.PENDING:
            payment.status = PaymentStatus.PROCESSING
            payment.processing_started_at = timezone.now()
            payment.save(update_fields=["status", "processing_started_at", "updated_at"])
            booking_log(payment.booking, "payment started")
    return payment


def payment_process(*, payment_id: UUID | str) -> Payment:
    """The worker's job for a new booking: charge its token. Safe to run any number
    of times. Raises TransientGatewayError for the task to retry; the charge is
    keyed by the payment id, so a retry never captures twice."""
    payment = _payment_begin(payment_id)
    if payment is None:
        return Payment.objects.select_related("booking").get(pk=payment_id)
    plan = attempt.charge(
        key=str(payment.id),
        amount=payment.amount,
        currency=payment.currency,
        token=payment.payment_token,
    )
    return _apply(payment.id, plan)


def payment_give_up(*, payment_id: UUID | str) -> Payment:
    """After the last retry of a transient error: the one give-up rule
    (gateways/attempt.py); a charge still pending is left for the stuck sweep."""
    return _apply(payment_id, attempt.give_up(key=str(payment_id)))


# --- Final transitions -------------------------------------------------------------


def payment_complete(*, payment_id: UUID | str, gateway_reference: str) -> Payment:
    """Payment captured: the payment is completed and its booking confirmed."""
    with transaction.atomic():
        payment = payment_locked(payment_id)
        booking = payment.booking
        if payment.status == PaymentStatus.COMPLETED:
            return payment
        if payment.status not in OPEN_PAYMENT_STATUSES or booking.status != BookingStatus.PENDING:
            logger.error(
                "payment %s: captured but the payment is %s and its booking %s",
                payment.id,
                payment.status,
                booking.status,
            )
            raise IllegalTransition(f"cannot complete a {payment.status} payment")
        payment.status = PaymentStatus.COMPLETED
        payment.gateway_reference = gateway_reference
        payment.completed_at = timezone.now()
        payment.save()
        booking.status = BookingStatus.CONFIRMED
        booking.save(update_fields=["status", "updated_at"])
        booking_log(
            booking,
            "confirmed",
            from_status=BookingStatus.PENDING,
            gateway_reference=gateway_reference,
            note="payment captured",
        )
    logger.info("payment %s completed; booking %s confirmed", payment.id, booking.id)
    return payment


def payment_fail(*, payment_id: UUID | str, reason: str, gateway_reference: str = "") -> Payment:
    """The payment failed (declined, or the gateway never took it): so does its booking."""
    with transaction.atomic():
        payment = payment_locked(payment_id)
        if payment.status == PaymentStatus.FAILED:
            return payment
        if payment.status not in OPEN_PAYMENT_STATUSES:
            raise IllegalTransition(f"cannot fail a {payment.status} payment")
        payment.status = PaymentStatus.FAILED
        payment.gateway_reference = gateway_reference or payment.gateway_reference
        payment.save()
        booking = payment.booking
        if booking.status == BookingStatus.PENDING:
            booking.status = BookingStatus.FAILED
            booking.failure_reason = reason
            booking.save(update_fields=["status", "failure_reason", "updated_at"])
        booking_log(
            booking, "payment failed", gateway_reference=payment.gateway_reference, note=reason
        )
    logger.info("payment %s failed: %s", payment.id, reason)
    return payment


def booking_cancel(*, booking_id: UUID | str) -> Booking:
    """Cancels a booking whose payment has not started; its payment fails with it."""
    with transaction.atomic():
        payment = payment_locked(_payment_id_of(booking_id))
        booking = payment.booking
        if booking.status == BookingStatus.CANCELLED:
            return booking
        if booking.status != BookingStatus.PENDING:
            raise BookingNotPending(f"cannot cancel a {booking.status} booking")
        if payment.status != PaymentStatus.PENDING:
            raise PaymentInProgress()
        booking.status = BookingStatus.CANCELLED
        booking.failure_reason = "cancelled"
        booking.save(update_fields=["status", "failure_reason", "updated_at"])
        payment.status = PaymentStatus.FAILED
        payment.save(update_fields=["status", "updated_at"])
        booking_log(booking, "cancelled", from_status=BookingStatus.PENDING)
    return booking


# --- Reconciliation ------------------------------------------------------------------


@dataclass(frozen=True)
class Reconciliation:
    payment: Payment
    result: GatewayResult
    action: Action

    @property
    def outcome(self) -> Outcome:
        return self.result.outcome


def _payment_view(payment: Payment) -> PaymentView:
    return PaymentView(
        key=str(payment.id),
        awaiting_outcome=payment.status in OPEN_PAYMENT_STATUSES
        and payment.booking.status == BookingStatus.PENDING,
        has_token=bool(payment.payment_token),
        honoured=payment.status in HONOURED_STATUSES,
    )


def _apply(payment_id: UUID | str, plan: Plan) -> Payment:
    """Carries out what the gateway's answer means for the payment, each step a
    locked, idempotent transition."""
    match plan.action:
        case Action.CONFIRM:
            return _complete_or_refund(payment_id, plan)
        case Action.FAIL:
            reason = "payment_declined" if plan.outcome == Outcome.DECLINED else "payment_error"
            return payment_fail(
                payment_id=payment_id, reason=reason, gateway_reference=plan.result.reference
            )
        case Action.CHARGE_AGAIN:
            return payment_process(payment_id=payment_id)
        case Action.REFUND:
            return refunds.payment_refund_unhonoured(payment_id=payment_id)
        case Action.AWAIT_BUYER:
            # Bookings have no page where the buyer could authenticate (3-D
            # Secure): nothing was captured, so the booking fails rather than
            # wait for ever, and the charge is cancelled at the gateway.
            payment_fail(
                payment_id=payment_id,
                reason="authentication_required",
                gateway_reference=plan.result.reference,
            )
            return _apply(payment_id, attempt.abandon(key=str(payment_id)))
        case Action.ABANDON:
            return _apply(payment_id, attempt.abandon(key=str(payment_id)))
    payment = Payment.objects.select_related("booking").get(pk=payment_id)
    logger.info("payment %s: gateway says %s, left %s", payment_id, plan.outcome, payment.status)
    return payment


def _complete_or_refund(payment_id: UUID | str, plan: Plan) -> Payment:
    """A capture completes the payment; if its booking ended meanwhile
    (cancelled, failed), the money goes back instead of being kept."""
    try:
        return payment_complete(payment_id=payment_id, gateway_reference=plan.result.reference)
    except IllegalTransition:
        return _apply(
            payment_id, _plan(Payment.objects.select_related("booking").get(pk=payment_id))
        )


def _plan(payment: Payment) -> Plan:
    return attempt.reconcile_plan(_payment_view(payment))


def payment_reconcile_plan(*, payment_id: UUID | str) -> Reconciliation:
    """Asks the gateway for a payment's real outcome and says what reconciling
    would do, changing nothing (operators' dry runs)."""
    payment = Payment.objects.select_related("booking").get(pk=payment_id)
    plan = _plan(payment)
    return Reconciliation(payment, plan.result, plan.action)


def payment_reconcile(*, payment_id: UUID | str) -> Reconciliation:
    """Applies the gateway's real outcome to a payment (stuck sweep, callbacks,
    operators' commands). Every step it takes is itself a locked, idempotent
    transition."""
    plan = payment_reconcile_plan(payment_id=payment_id)
    payment = _apply(payment_id, Plan(plan.result, plan.action))
    return Reconciliation(payment, plan.result, plan.action)


# --- Stuck-payment sweep -------------------------------------------------------------


def payments_claim_stuck(*, older_than_minutes: int, batch_size: int = 100) -> list[UUID]:
    """Claims one bounded batch of payments stuck in processing (the one claim
    rule, project/sweeps.py): operators' commands reconcile what they claim."""
    if older_than_minutes < 1:
        raise ValueError("older_than_minutes must be at least 1")
    return claim_batch(
        selectors.payments_stuck(older_than_minutes=older_than_minutes),
        order_by="processing_started_at",
        hold=timedelta(minutes=older_than_minutes),
        batch_size=batch_size,
    )


def payments_requeue_waiting() -> int:
    """Bookings whose tokened payment was never charged: the task is sent again."""
    waited = timedelta(seconds=settings.REQUEUE_AFTER_SECONDS)

    def requeue(payment_id: UUID) -> None:
        logger.warning("payment %s: charge never began, re-enqueued", payment_id)
        enqueue_on_commit(BOOKING_PROCESS_TASK, str(payment_id))

    return sweep(
        selectors.payments_awaiting_charge(older_than_seconds=settings.REQUEUE_AFTER_SECONDS),
        label="bookings waiting for their charge",
        order_by="updated_at",
        hold=waited,
        handle=requeue,
    )


def payments_sweep_stuck(
    *, older_than_minutes: int, batch_size: int = 100, max_batches: int = 50
) -> int:
    """The beat's sweep: claims stuck payments batch by batch and hands each to a
    reconcile task, so one slow gateway answer does not hold up the rest."""
    if older_than_minutes < 1:
        raise ValueError("older_than_minutes must be at least 1")
    return sweep(
        selectors.payments_stuck(older_than_minutes=older_than_minutes),
        label="stuck destination payments",
        order_by="processing_started_at",
        hold=timedelta(minutes=older_than_minutes),
        handle=lambda pk: enqueue_on_commit(BOOKING_RECONCILE_TASK, str(pk)),
        batch_size=batch_size,
        max_batches=max_batches,
    )
