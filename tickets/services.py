"""Every write to a ticket purchase, one function per transition.

Each transition locks the purchase row, re-reads it, returns early when the
work is already done (so a task delivered twice changes nothing) and raises a
domain error on an illegal move. Lock order is always purchase, then ticket.
No lock is held while the payment gateway is called: reserve (short
transaction) -> charge (no transaction) -> confirm or fail (short transaction).
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from payments.gateways import GatewayResult, Outcome, get_gateway
from tickets.codes import codes_issue
from tickets.errors import (
    IllegalTransition,
    InventoryInvariantBroken,
    PaymentAlreadySubmitted,
    PurchaseNotPending,
    RefundRefused,
    TicketUnavailable,
)
from tickets.models import Ticket, TicketCode, TicketPurchase
from tickets.selectors import purchases_stuck_in_payment, purchases_unstarted, tickets_on_sale

logger = logging.getLogger(__name__)

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


# --- Inventory ---------------------------------------------------------------------


def inventory_reserve(*, ticket_id: int, quantity: int) -> bool:
    """Takes `quantity` seats in one conditional UPDATE; False when too few are left."""
    taken = Ticket.objects.filter(pk=ticket_id, available_quantity__gte=quantity).update(
        available_quantity=F("available_quantity") - quantity
    )
    return taken == 1


def inventory_release(*, ticket_id: int, quantity: int) -> None:
    returned = Ticket.objects.filter(
        pk=ticket_id, available_quantity__lte=F("total_quantity") - quantity
    ).update(available_quantity=F("available_quantity") + quantity)
    if returned != 1:
        raise InventoryInvariantBroken(f"cannot return {quantity} seats to ticket {ticket_id}")


# --- Helpers -----------------------------------------------------------------------


def _locked(purchase_id: UUID | str) -> TicketPurchase:
    return TicketPurchase.objects.select_for_update().get(pk=purchase_id)


def _enqueue_processing(purchase_id: UUID) -> None:
    from workers.tasks import process_purchase

    transaction.on_commit(lambda: process_purchase.delay(str(purchase_id)))


def _enqueue_reconcile(purchase_id: UUID) -> None:
    from workers.tasks import reconcile_purchase_payment

    transaction.on_commit(lambda: reconcile_purchase_payment.delay(str(purchase_id)))


def _release_if_reserved(purchase: TicketPurchase) -> None:
    if purchase.inventory_reserved:
        inventory_release(ticket_id=purchase.ticket_id, quantity=purchase.quantity)
        purchase.inventory_reserved = False


# --- Create and process ------------------------------------------------------------


def purchase_create(
    *,
    ticket_id: int,
    quantity: int,
    customer_name: str,
    customer_email: str,
    payment_method: str,
    customer_phone: str = "",
    payment_token: str = "",
    user=None,
    on_created: Callable[[TicketPurchase], None] | None = None,
) -> TicketPurchase:
    """Accepts a purchase as pending; a worker reserves and charges it after commit.

    Price and total come from the ticket, never from the client. `on_created`
    runs inside the creating transaction (the API stores its idempotent reply).
    """
    ticket = tickets_on_sale().filter(pk=ticket_id).first()
    if ticket is None:
        raise TicketUnavailable()
    with transaction.atomic():
        purchase = TicketPurchase.objects.create(
            ticket=ticket,
            user=user if user is not None and user.is_authenticated else None,
            customer_name=customer_name,
            customer_email=customer_email,
            customer_phone=customer_phone,
            quantity=quantity,
            unit_price=ticket.price,
            total_amount=ticket.price * quantity,
            currency=ticket.currency,
            payment_method=payment_method,
            payment_token=payment_token,
            hold_expires_at=timezone.now() + timedelta(seconds=settings.PURCHASE_HOLD_SECONDS),
        )
        if on_created is not None:
            on_created(purchase)
        _enqueue_processing(purchase.id)
    return purchase


def purchase_process(*, purchase_id: UUID | str) -> TicketPurchase:
    """The worker's whole job for a new purchase: reserve, then charge if a token
    was given. Safe to run any number of times."""
    purchase = purchase_reserve(purchase_id=purchase_id)
    if purchase.status != Status.PENDING or not purchase.payment_token:
        return purchase
    if purchase.payment_status == PaymentStatus.PROCESSING:
        return _charge(purchase)  # begun in the reserving transaction
    return purchase_charge(purchase_id=purchase_id)


def purchase_reserve(*, purchase_id: UUID | str) -> TicketPurchase:
    with transaction.atomic():
        purchase = _locked(purchase_id)
        if purchase.status != Status.PENDING or purchase.inventory_reserved:
            return purchase
        purchase.processing_started_at = purchase.processing_started_at or timezone.now()
        if inventory_reserve(ticket_id=purchase.ticket_id, quantity=purchase.quantity):
            purchase.inventory_reserved = True
            if purchase.payment_token:
                # The payment begins with the reservation: one transaction, not two.
                _mark_payment_processing(purchase)
        else:
            purchase.status = Status.FAILED
            purchase.failure_reason = "sold_out"
        purchase.save(
            update_fields=[
                "processing_started_at",
                "inventory_reserved",
                "status",
                "failure_reason",
                "payment_status",
                "payment_started_at",
                "updated_at",
            ]
        )
    return purchase


def purchase_submit_payment(*, purchase_id: UUID | str, payment_token: str) -> TicketPurchase:
    """`complete/`: the buyer hands over a payment token for a pending purchase."""
    with transaction.atomic():
        purchase = _locked(purchase_id)
        if purchase.status != Status.PENDING:
            raise PurchaseNotPending()
        if purchase.payment_token or purchase.payment_status != PaymentStatus.PENDING:
            raise PaymentAlreadySubmitted()
        purchase.payment_token = payment_token
        purchase.save(update_fields=["payment_token", "updated_at"])
        _enqueue_processing(purchase.id)
    return purchase


# --- Payment -----------------------------------------------------------------------


def _payment_begin(purchase_id: UUID | str) -> TicketPurchase | None:
    """Marks the payment as processing; None when there is nothing to charge."""
    with transaction.atomic():
        purchase = _locked(purchase_id)
        if purchase.status != Status.PENDING or purchase.payment_status not in (
            PaymentStatus.PENDING,
            PaymentStatus.PROCESSING,
        ):
            return None
        if not purchase.inventory_reserved:
            raise IllegalTransition("seats must be reserved before the payment is taken")
        if purchase.payment_status == PaymentStatus.PENDING:
            _mark_payment_processing(purchase)
            purchase.save(update_fields=["payment_status", "payment_started_at", "updated_at"])
    return purchase


def _mark_payment_processing(purchase: TicketPurchase) -> None:
    purchase.payment_status = PaymentStatus.PROCESSING
    purchase.payment_started_at = timezone.now()


def purchase_charge(*, purchase_id: UUID | str) -> TicketPurchase:
    """Charges the purchase's token. Raises TransientGatewayError for the task to
    retry; the charge is keyed by the purchase id, so a retry never charges twice."""
    purchase = _payment_begin(purchase_id)
    if purchase is None:
        return TicketPurchase.objects.get(pk=purchase_id)
    return _charge(purchase)


def _charge(purchase: TicketPurchase) -> TicketPurchase:
    """The gateway call itself, with no transaction open; `purchase` is pending,
    reserved and its payment processing, which nothing else may change."""
    result = get_gateway().charge(
        idempotency_key=str(purchase.id),
        amount=purchase.total_amount,
        currency=purchase.currency,
        token=purchase.payment_token,
    )
    return purchase_apply_gateway_result(purchase_id=purchase.id, result=result)


def purchase_apply_gateway_result(
    *, purchase_id: UUID | str, result: GatewayResult
) -> TicketPurchase:
    if result.outcome == Outcome.CAPTURED:
        return purchase_confirm(purchase_id=purchase_id, gateway_reference=result.reference)
    if result.outcome == Outcome.DECLINED:
        return purchase_fail(purchase_id=purchase_id, reason="payment_declined")
    logger.info("purchase %s: gateway outcome %s, left processing", purchase_id, result.outcome)
    return TicketPurchase.objects.get(pk=purchase_id)


def purchase_reconcile_payment(*, purchase_id: UUID | str) -> TicketPurchase:
    """Asks the gateway for the real outcome of a payment (stuck sweep, gateway
    callbacks) and applies it."""
    purchase = purchase_reserve(purchase_id=purchase_id)
    gateway = get_gateway()
    result = gateway.lookup(idempotency_key=str(purchase.id))
    if purchase.status != Status.PENDING:
        if result.outcome == Outcome.CAPTURED and purchase.status == Status.FAILED:
            # Money arrived for a purchase that could not hold seats: give it back.
            gateway.refund(idempotency_key=str(purchase.id), amount=purchase.total_amount)
            logger.warning("purchase %s: captured after failing, refunded", purchase.id)
        return purchase
    if result.outcome == Outcome.NOT_FOUND and purchase.payment_token:
        # The charge never reached the gateway (lost task): take it again.
        return purchase_charge(purchase_id=purchase.id)
    return purchase_apply_gateway_result(purchase_id=purchase.id, result=result)


def purchase_give_up_payment(*, purchase_id: UUID | str) -> TicketPurchase:
    """After the last retry of a transient error: fail the purchase cleanly unless
    the gateway says the money was in fact captured."""
    result = get_gateway().lookup(idempotency_key=str(purchase_id))
    if result.outcome in (Outcome.CAPTURED, Outcome.DECLINED):
        return purchase_apply_gateway_result(purchase_id=purchase_id, result=result)
    return purchase_fail(purchase_id=purchase_id, reason="payment_error")


def purchase_simulate_callback(*, purchase_id: UUID | str, succeed: bool) -> TicketPurchase:
    """Plays the simulated gateway's callback: the gateway records the outcome,
    then a worker reconciles the purchase with it as it would for a real one."""
    from payments.gateways.simulated import SimulatedGateway

    purchase = TicketPurchase.objects.get(pk=purchase_id)
    if purchase.status != Status.PENDING:
        raise PurchaseNotPending()
    SimulatedGateway().record(
        idempotency_key=str(purchase.id),
        amount=purchase.total_amount,
        currency=purchase.currency,
        succeed=succeed,
    )
    with transaction.atomic():
        _enqueue_reconcile(purchase.id)
    return purchase


# --- Final transitions -------------------------------------------------------------


def purchase_confirm(*, purchase_id: UUID | str, gateway_reference: str) -> TicketPurchase:
    """Payment captured: the purchase is confirmed with exactly `quantity` codes."""
    with transaction.atomic():
        purchase = _locked(purchase_id)
        if purchase.status in (Status.CONFIRMED, Status.COMPLETED):
            return purchase
        if purchase.status != Status.PENDING or not purchase.inventory_reserved:
            logger.error(
                "purchase %s: payment captured but purchase is %s", purchase.id, purchase.status
            )
            raise IllegalTransition(f"cannot confirm a {purchase.status} purchase")
        purchase.status = Status.CONFIRMED
        purchase.payment_status = PaymentStatus.COMPLETED
        purchase.gateway_reference = gateway_reference
        purchase.confirmed_at = timezone.now()
        purchase.save(
            update_fields=[
                "status",
                "payment_status",
                "gateway_reference",
                "confirmed_at",
                "updated_at",
            ]
        )
        codes_issue(purchase=purchase)
        _enqueue_delivery(purchase.id)
    return purchase


def _enqueue_delivery(purchase_id: UUID) -> None:
    from workers.tasks import deliver_purchase

    transaction.on_commit(lambda: deliver_purchase.delay(str(purchase_id)))


def purchase_fail(*, purchase_id: UUID | str, reason: str) -> TicketPurchase:
    with transaction.atomic():
        purchase = _locked(purchase_id)
        if purchase.status == Status.FAILED:
            return purchase
        if purchase.status != Status.PENDING:
            raise PurchaseNotPending(f"cannot fail a {purchase.status} purchase")
        _release_if_reserved(purchase)
        purchase.status = Status.FAILED
        purchase.failure_reason = reason
        if purchase.payment_status == PaymentStatus.PROCESSING:
            purchase.payment_status = PaymentStatus.FAILED
        purchase.save()
    logger.info("purchase %s failed: %s", purchase.id, reason)
    return purchase


def _end_unpaid(purchase: TicketPurchase, status: str) -> TicketPurchase:
    """Expire or cancel a locked purchase whose payment never started."""
    if purchase.status == status:
        return purchase
    if purchase.status != Status.PENDING:
        raise PurchaseNotPending(f"cannot move a {purchase.status} purchase to {status}")
    if purchase.payment_status != PaymentStatus.PENDING:
        raise IllegalTransition("a payment is in progress; the sweep will settle it")
    _release_if_reserved(purchase)
    purchase.status = status
    purchase.save()
    return purchase


def purchase_expire(*, purchase_id: UUID | str, now: datetime | None = None) -> TicketPurchase:
    with transaction.atomic():
        purchase = _locked(purchase_id)
        if purchase.status == Status.PENDING and purchase.hold_expires_at > (now or timezone.now()):
            raise IllegalTransition("the hold has not expired yet")
        return _end_unpaid(purchase, Status.EXPIRED)


def purchase_cancel(*, purchase_id: UUID | str) -> TicketPurchase:
    with transaction.atomic():
        return _end_unpaid(_locked(purchase_id), Status.CANCELLED)


def purchases_expire_due(*, now: datetime | None = None, batch_size: int = 200) -> int:
    """Expires unpaid purchases past their hold, one bounded batch per call.

    SKIP LOCKED lets two sweeps run at once without touching the same rows.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            TicketPurchase.objects.select_for_update(skip_locked=True)
            .filter(
                status=Status.PENDING,
                payment_status=PaymentStatus.PENDING,
                hold_expires_at__lte=now,
            )
            .order_by("hold_expires_at")[:batch_size]
        )
        for purchase in due:
            _end_unpaid(purchase, Status.EXPIRED)
    if due:
        logger.info("expired %d purchases", len(due))
    return len(due)


def purchase_deliver(*, purchase_id: UUID | str) -> TicketPurchase:
    """Sends the confirmation e-mail, then marks the purchase completed.

    The mail goes out before the lock is taken; a redelivered task may send it
    twice (at-least-once), never leaves a confirmed purchase undelivered.
    """
    from tickets.emails import send_purchase_confirmation

    purchase = TicketPurchase.objects.select_related("ticket").get(pk=purchase_id)
    if purchase.status != Status.CONFIRMED:
        return purchase
    send_purchase_confirmation(purchase)
    with transaction.atomic():
        purchase = _locked(purchase_id)
        if purchase.status == Status.CONFIRMED:
            purchase.status = Status.COMPLETED
            purchase.completed_at = timezone.now()
            purchase.save(update_fields=["status", "completed_at", "updated_at"])
    return purchase


def purchase_resend_tickets(*, purchase_id: UUID | str) -> TicketPurchase:
    """Admin: send the confirmation e-mail again for a delivered purchase."""
    from tickets.emails import send_purchase_confirmation

    purchase = TicketPurchase.objects.select_related("ticket").get(pk=purchase_id)
    if purchase.status not in (Status.CONFIRMED, Status.COMPLETED):
        raise IllegalTransition("only confirmed or completed purchases have tickets to send")
    send_purchase_confirmation(purchase)
    return purchase


# --- Refund ------------------------------------------------------------------------


def purchase_refund(*, purchase_id: UUID | str, allow_used: bool = False) -> TicketPurchase:
    """Refunds through the gateway, voids the codes and returns the seats (unless
    the event has passed). Idempotent: a refunded purchase is returned as is.

    The codes are voided first, in their own transaction, so none can be scanned
    at the door while the money goes back; if the gateway refuses, they are valid
    again. A code already used blocks the refund unless `allow_used`.
    """
    with transaction.atomic():
        purchase = _locked(purchase_id)
        if purchase.status == Status.REFUNDED:
            return purchase
        if purchase.status not in (Status.CONFIRMED, Status.COMPLETED):
            raise RefundRefused(f"a {purchase.status} purchase cannot be refunded")
        purchase.codes.filter(status=TicketCode.Status.VALID).update(status=TicketCode.Status.VOID)
        # Checked after voiding: a scan that raced us has committed by now (or is blocked).
        if not allow_used and purchase.codes.filter(status=TicketCode.Status.USED).exists():
            raise RefundRefused("a code of this purchase was already used at the door")
    try:
        result = get_gateway().refund(
            idempotency_key=str(purchase.id), amount=purchase.total_amount
        )
    except Exception:
        _codes_restore(purchase)
        raise
    if result.outcome != Outcome.REFUNDED:
        _codes_restore(purchase)
        raise RefundRefused(f"the gateway did not refund: {result.reason or result.outcome}")
    return _refund_record(purchase_id)


def _codes_restore(purchase: TicketPurchase) -> None:
    """Undoes the voiding of a refund that did not happen: a confirmed purchase's
    void codes can only have been voided by it."""
    with transaction.atomic():
        purchase = _locked(purchase.id)
        if purchase.status in (Status.CONFIRMED, Status.COMPLETED):
            purchase.codes.filter(status=TicketCode.Status.VOID).update(
                status=TicketCode.Status.VALID
            )


def _refund_record(purchase_id: UUID | str) -> TicketPurchase:
    with transaction.atomic():
        purchase = _locked(purchase_id)
        if purchase.status == Status.REFUNDED:
            return purchase
        # After the event the seats are worthless; they stay counted as sold.
        if purchase.ticket.starts_at > timezone.now():
            _release_if_reserved(purchase)
        purchase.status = Status.REFUNDED
        purchase.payment_status = PaymentStatus.REFUNDED
        purchase.refunded_at = timezone.now()
        purchase.save()
    logger.info("purchase %s refunded", purchase.id)
    return purchase


def purchase_retry_processing(*, purchase_id: UUID | str) -> TicketPurchase:
    """Admin: hand a stalled purchase back to the workers. What is re-run depends
    on where it stopped; every step it triggers is itself idempotent."""
    purchase = TicketPurchase.objects.get(pk=purchase_id)
    with transaction.atomic():
        if (
            purchase.status == Status.PENDING
            and purchase.payment_status == PaymentStatus.PROCESSING
        ):
            _enqueue_reconcile(purchase.id)
        elif purchase.status == Status.PENDING:
            _enqueue_processing(purchase.id)
        elif purchase.status == Status.CONFIRMED:
            _enqueue_delivery(purchase.id)
        else:
            raise IllegalTransition(f"a {purchase.status} purchase has nothing to re-run")
    return purchase


# --- Sweeps ------------------------------------------------------------------------


def _claim_for_sweep(queryset, *, order_by: str, hold: timedelta, batch_size: int) -> list[UUID]:
    """Claims a bounded batch: SKIP LOCKED keeps two sweeps running at once off
    each other's rows, and the stamp keeps a row claimed for `hold` after commit."""
    now = timezone.now()
    with transaction.atomic():
        claimed = list(
            queryset.exclude(sweep_claimed_at__gt=now - hold)
            .select_for_update(skip_locked=True)
            .order_by(order_by)
            .values_list("pk", flat=True)[:batch_size]
        )
        TicketPurchase.objects.filter(pk__in=claimed).update(sweep_claimed_at=now)
    return claimed


def purchases_requeue_unstarted(*, older_than_seconds: int = 60, batch_size: int = 200) -> int:
    """Re-enqueues pending purchases no worker ever started (a task lost between
    commit and publish, or by the broker)."""
    claimed = _claim_for_sweep(
        purchases_unstarted(older_than_seconds=older_than_seconds),
        order_by="created_at",
        hold=timedelta(seconds=older_than_seconds),
        batch_size=batch_size,
    )
    with transaction.atomic():
        for purchase_id in claimed:
            logger.warning("purchase %s: processing never started, re-enqueued", purchase_id)
            _enqueue_processing(purchase_id)
    return len(claimed)


def purchases_sweep_stuck_payments(*, older_than_minutes: int, batch_size: int = 200) -> int:
    """Hands payments stuck in processing to reconcile tasks, which ask the
    gateway for the real outcome."""
    claimed = _claim_for_sweep(
        purchases_stuck_in_payment(older_than_minutes=older_than_minutes),
        order_by="payment_started_at",
        hold=timedelta(minutes=older_than_minutes),
        batch_size=batch_size,
    )
    with transaction.atomic():
        for purchase_id in claimed:
            _enqueue_reconcile(purchase_id)
    if claimed:
        logger.info("sweep: %d stuck ticket payment(s) sent to reconcile", len(claimed))
    return len(claimed)
