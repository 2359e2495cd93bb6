"""Every write to a ticket purchase, one function per transition.

Each transition locks the purchase row, re-reads it, returns early when the
work is already done (so a task delivered twice changes nothing) and raises a
domain error on an illegal move. Lock order is always purchase, then ticket.
No lock is held while the payment gateway is called: reserve (short
transaction) -> charge (no transaction) -> confirm or fail (short transaction).
"""

import logging
import time
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from gateways import ChargeRequest, Outcome, attempt
from gateways.attempt import Action, PaymentView, Plan
from gateways.simulated import SimulatedGateway
from project.errors import DependencyUnavailable
from project.queue import enqueue_on_commit
from project.sweeps import sweep
from tickets import backlog, batch, selectors, waiting_list
from tickets.accept import purchase_store
from tickets.audit import purchase_log, ticket_log
from tickets.codes import codes_issue
from tickets.delivery import delivery_ring_on_commit, delivery_ring_overdue
from tickets.emails import send_purchase_confirmation
from tickets.errors import (
    CapacityRefused,
    IllegalTransition,
    PaymentAlreadySubmitted,
    PurchaseNotPending,
    QuantityInvalid,
    RefundRefused,
)
from tickets.models import Ticket, TicketCode, TicketPurchase
from tickets.task_names import (  # noqa: F401  (the workers register these names)
    BATCH_TASK,
    DELIVER_TASK,
    ENTRY_MAIL_TASK,
    OFFER_MAIL_TASK,
    PROCESS_TASK,
    RECONCILE_TASK,
    REFUND_TASK,
)

logger = logging.getLogger(__name__)

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


# Statuses in which the purchase kept (or already gave back) what was paid for.
HONOURED_STATUSES = (Status.CONFIRMED, Status.COMPLETED, Status.REFUNDED)


# --- Inventory ---------------------------------------------------------------------


def inventory_reserve(*, ticket_id: int, quantity: int, unpaid: bool = False) -> bool:
    """Takes `quantity` seats in one conditional UPDATE; False when too few are left.

    An `unpaid` hold (no payment token yet) is also counted in the ticket's
    `unpaid_held_quantity`, which may not pass UNPAID_HOLDS_MAX_PERCENT of its
    seats: people who have not paid can never hold a whole sale."""
    seats = Ticket.objects.filter(pk=ticket_id, available_quantity__gte=quantity)
    change = {"available_quantity": F("available_quantity") - quantity}
    if unpaid:
        cap = F("total_quantity") * settings.UNPAID_HOLDS_MAX_PERCENT / 100
        seats = seats.filter(unpaid_held_quantity__lte=cap - quantity)
        change["unpaid_held_quantity"] = F("unpaid_held_quantity") + quantity
    return seats.update(**change) == 1


def inventory_release(*, ticket_id: int, quantity: int, unpaid: bool = False) -> None:
    """Gives `quantity` seats back, inside the caller's transaction: the ticket's
    waiting list is offered them first (tickets/waiting_list.py), the rest go
    back on sale."""
    waiting_list.seats_returned(
        ticket_id=ticket_id, seats=quantity, unpaid=quantity if unpaid else 0
    )


def _unpaid_hold_settle(purchase: TicketPurchase) -> None:
    """The purchase's hold is paid for: it no longer counts as an unpaid hold."""
    if purchase.holds_unpaid:
        Ticket.objects.filter(pk=purchase.ticket_id).update(
            unpaid_held_quantity=F("unpaid_held_quantity") - purchase.quantity
        )
        purchase.holds_unpaid = False


def ticket_change_capacity(*, ticket_id: int, delta: int) -> Ticket:
    """Adds (or, with a negative delta, removes) seats. Added seats go to the
    waiting list first, like any seats coming back; removed ones must be free:
    total and available move together in one conditional UPDATE, so a stale
    admin page can never undo sales, and seats sold, held or offered cannot be
    taken away."""
    with transaction.atomic():
        if delta > 0:
            Ticket.objects.filter(pk=ticket_id).update(total_quantity=F("total_quantity") + delta)
            waiting_list.seats_returned(ticket_id=ticket_id, seats=delta)
        else:
            changed = Ticket.objects.filter(pk=ticket_id, available_quantity__gte=-delta).update(
                total_quantity=F("total_quantity") + delta,
                available_quantity=F("available_quantity") + delta,
            )
            if changed != 1:
                raise CapacityRefused(
                    f"only the free seats can be removed; {-delta} asked for is more than are free"
                )
        ticket = Ticket.objects.get(pk=ticket_id)
        ticket_log(
            ticket, "capacity changed", note=f"{delta:+d} seats, total {ticket.total_quantity}"
        )
    logger.info("ticket %s: capacity changed by %+d", ticket_id, delta)
    return ticket


# --- Helpers -----------------------------------------------------------------------


def _locked(purchase_id: UUID | str) -> TicketPurchase:
    return TicketPurchase.objects.select_for_update().get(pk=purchase_id)


def _release_if_reserved(purchase: TicketPurchase) -> None:
    if purchase.inventory_reserved:
        inventory_release(
            ticket_id=purchase.ticket_id, quantity=purchase.quantity, unpaid=purchase.holds_unpaid
        )
        purchase.inventory_reserved = False
        purchase.holds_unpaid = False


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
    client_address: str | None = None,
) -> TicketPurchase:
    """Accepts a purchase as pending, by the API's rules (tickets/accept.py:
    on sale, price from the ticket, hold caps, sold out); a worker reserves and
    charges it with the rest of its ticket's queue after commit. For callers
    that want the model (commands, tests); the API answers from the values."""
    if not 1 <= quantity <= settings.MAX_TICKETS_PER_PURCHASE:
        raise QuantityInvalid(f"Between 1 and {settings.MAX_TICKETS_PER_PURCHASE} tickets.")
    with transaction.atomic():
        body = purchase_store(
            ticket_id=ticket_id,
            quantity=quantity,
            customer_name=customer_name,
            customer_email=customer_email,
            payment_method=payment_method,
            customer_phone=customer_phone,
            payment_token=payment_token,
            user=user,
            client_address=client_address,
        )
        batch.batch_ring_on_commit(ticket_id)
    return TicketPurchase.objects.select_related("ticket").get(pk=body["purchase_id"])


def ticket_process_batches(*, ticket_id: int, resume: bool = False) -> int:
    """The worker's answer to a ticket's doorbell: decides its waiting purchases
    a batch at a time (tickets/batch.py) until none is left; returns how many.

    `resume`: the doorbell was redelivered because the worker that took it
    died, maybe between a batch's charge and its settling: the ticket's charges
    in flight are asked again first (a live batch settling the same purchases
    meanwhile is harmless: the charge is keyed, and settling checks each row)."""
    batch.batch_answer(ticket_id)
    if resume:
        _charge_batch(ticket_id, batch.charges_in_flight(ticket_id, size=10 * settings.BATCH_SIZE))
    if settings.BATCH_LINGER_MS:
        time.sleep(settings.BATCH_LINGER_MS / 1000)  # let a burst gather
    decided = 0
    while True:
        started = time.monotonic()
        reserved = batch.reserve_batch(ticket_id, size=settings.BATCH_SIZE)
        _charge_batch(ticket_id, reserved.to_charge)
        decided += len(reserved.claimed)
        drained = len(reserved.claimed) < settings.BATCH_SIZE
        if reserved.claimed:
            backlog.note_decided(
                ticket_id,
                count=len(reserved.claimed),
                seconds=time.monotonic() - started,
                drained=drained,
                purchase_ids=reserved.claimed,
            )
        if drained:
            return decided


def _charge_batch(ticket_id: int, purchases: list[TicketPurchase]) -> None:
    """One gateway round trip for the batch, then one settling transaction; an
    answer that needs more than confirm or fail is applied one by one, and a
    transient error sends the purchase to its own task (retries, give-up)."""
    plans = attempt.charge_batch(
        [ChargeRequest(str(p.id), p.total_amount, p.currency, p.payment_token) for p in purchases]
    )
    captured, refused, alone = [], [], []
    for purchase, plan in zip(purchases, plans, strict=True):
        if plan is None:
            logger.warning("purchase %s: gateway error in batch, retried alone", purchase.id)
            enqueue_on_commit(PROCESS_TASK, str(purchase.id))
        elif plan.action == Action.CONFIRM:
            captured.append((purchase, plan))
        elif plan.action == Action.FAIL:
            refused.append((purchase, plan))
        else:
            alone.append((purchase, plan))
    alone += batch.settle_batch(ticket_id, captured=captured, refused=refused)
    for purchase, plan in alone:
        _apply(purchase.id, plan)


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
        unpaid = not purchase.payment_token
        if inventory_reserve(
            ticket_id=purchase.ticket_id, quantity=purchase.quantity, unpaid=unpaid
        ):
            purchase.inventory_reserved = True
            purchase.holds_unpaid = unpaid
            if purchase.payment_token:
                # The payment begins with the reservation: one transaction, not two.
                _mark_payment_processing(purchase)
            purchase_log(purchase, "seats reserved", from_status=Status.PENDING)
        else:
            purchase.status = Status.FAILED
            purchase.failure_reason = _why_not_reserved(purchase)
            purchase_log(
                purchase, "failed", from_status=Status.PENDING, note=purchase.failure_reason
            )
        purchase.save(
            update_fields=[
                "processing_started_at",
                "inventory_reserved",
                "holds_unpaid",
                "status",
                "failure_reason",
                "payment_status",
                "payment_started_at",
                "updated_at",
            ]
        )
    return purchase


def _why_not_reserved(purchase: TicketPurchase) -> str:
    free = Ticket.objects.values_list("available_quantity", flat=True).get(pk=purchase.ticket_id)
    return "sold_out" if free < purchase.quantity else "unpaid_holds_full"


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
        purchase_log(purchase, "payment submitted", from_status=Status.PENDING)
        enqueue_on_commit(PROCESS_TASK, str(purchase.id))
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
            purchase_log(purchase, "payment started", from_status=Status.PENDING)
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
    plan = attempt.charge(
        key=str(purchase.id),
        amount=purchase.total_amount,
        currency=purchase.currency,
        token=purchase.payment_token,
    )
    return _apply(purchase.id, plan)


def _payment_view(purchase: TicketPurchase) -> PaymentView:
    return PaymentView(
        key=str(purchase.id),
        awaiting_outcome=purchase.status == Status.PENDING,
        has_token=bool(purchase.payment_token),
        honoured=purchase.status in HONOURED_STATUSES,
    )


def _apply(purchase_id: UUID | str, plan: Plan) -> TicketPurchase:
    """Carries out what the gateway's answer means for the purchase, each step
    a locked, idempotent transition."""
    match plan.action:
        case Action.CONFIRM:
            return _confirm_or_refund(purchase_id, plan)
        case Action.FAIL:
            reason = "payment_declined" if plan.outcome == Outcome.DECLINED else "payment_error"
            return purchase_fail(purchase_id=purchase_id, reason=reason)
        case Action.CHARGE_AGAIN:
            return purchase_charge(purchase_id=purchase_id)
        case Action.REFUND:
            return _refund_unhonoured(purchase_id)
    purchase = TicketPurchase.objects.get(pk=purchase_id)
    logger.info("purchase %s: gateway says %s, left %s", purchase_id, plan.outcome, purchase.status)
    return purchase


def _confirm_or_refund(purchase_id: UUID | str, plan: Plan) -> TicketPurchase:
    """A capture confirms the purchase; if it ended meanwhile (expired, cancelled,
    failed), the money goes back instead of being kept without a ticket."""
    try:
        return purchase_confirm(purchase_id=purchase_id, gateway_reference=plan.result.reference)
    except IllegalTransition:
        purchase = TicketPurchase.objects.get(pk=purchase_id)
        return _apply(purchase_id, attempt.reconcile_plan(_payment_view(purchase)))


def purchase_reconcile_plan(*, purchase_id: UUID | str) -> Plan:
    """What reconciling the purchase with the gateway would do, changing nothing."""
    return attempt.reconcile_plan(_payment_view(TicketPurchase.objects.get(pk=purchase_id)))


def purchase_reconcile(*, purchase_id: UUID | str) -> tuple[Plan, TicketPurchase]:
    """Asks the gateway for the real outcome of a payment (stuck sweep, gateway
    callbacks, operators) and applies it; returns the plan and the purchase
    after. A pending purchase takes its seats first: a capture can only
    confirm a purchase that holds them."""
    purchase = purchase_reserve(purchase_id=purchase_id)
    plan = attempt.reconcile_plan(_payment_view(purchase))
    return plan, _apply(purchase.id, plan)


def purchase_reconcile_payment(*, purchase_id: UUID | str) -> TicketPurchase:
    return purchase_reconcile(purchase_id=purchase_id)[1]


def purchase_give_up_payment(*, purchase_id: UUID | str) -> TicketPurchase:
    """After the last retry of a transient error: the one give-up rule
    (gateways/attempt.py); a charge still pending is left for the stuck sweep."""
    return _apply(purchase_id, attempt.give_up(key=str(purchase_id)))


def purchase_simulate_callback(*, purchase_id: UUID | str, succeed: bool) -> TicketPurchase:
    """Plays the simulated gateway's callback: the gateway records the outcome,
    then a worker reconciles the purchase with it as it would for a real one."""
    purchase = TicketPurchase.objects.get(pk=purchase_id)
    if purchase.status != Status.PENDING:
        raise PurchaseNotPending()
    SimulatedGateway().record(
        idempotency_key=str(purchase.id),
        amount=purchase.total_amount,
        currency=purchase.currency,
        succeed=succeed,
    )
    enqueue_on_commit(RECONCILE_TASK, str(purchase.id))  # no transaction: sent at once
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
        _unpaid_hold_settle(purchase)
        purchase.save(
            update_fields=[
                "status",
                "payment_status",
                "gateway_reference",
                "confirmed_at",
                "holds_unpaid",
                "updated_at",
            ]
        )
        codes_issue(purchase=purchase)
        purchase_log(purchase, "confirmed", from_status=Status.PENDING, note="payment captured")
        delivery_ring_on_commit()
    return purchase


def purchase_fail(*, purchase_id: UUID | str, reason: str) -> TicketPurchase:
    with transaction.atomic():
        purchase = _locked(purchase_id)
        if purchase.status == Status.FAILED:
            return purchase
        if purchase.status != Status.PENDING:
            raise PurchaseNotPending(f"cannot fail a {purchase.status} purchase")
        # Bought through a waiting-list offer that still runs: the seats go back
        # to that offer, so its buyer can try another card.
        declined = reason == "payment_declined" and purchase.inventory_reserved
        if declined and waiting_list.offer_reopen(purchase):
            purchase.inventory_reserved = purchase.holds_unpaid = False
        _release_if_reserved(purchase)
        purchase.status = Status.FAILED
        purchase.failure_reason = reason
        if purchase.payment_status == PaymentStatus.PROCESSING:
            purchase.payment_status = PaymentStatus.FAILED
        purchase.save()
        purchase_log(purchase, "failed", from_status=Status.PENDING, note=reason)
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
    purchase_log(purchase, str(status), from_status=Status.PENDING, note="seats released")
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
    """The beat's expiry sweep: every unpaid purchase past its hold expires, each
    in its own transaction, so one that cannot is logged and skipped, never
    holding up the rest."""
    now = now or timezone.now()
    due = TicketPurchase.objects.filter(
        status=Status.PENDING, payment_status=PaymentStatus.PENDING, hold_expires_at__lte=now
    )
    return sweep(
        due,
        label="expire unpaid purchases",
        order_by="hold_expires_at",
        hold=timedelta(seconds=settings.SWEEP_INTERVAL_SECONDS),
        handle=lambda pk: purchase_expire(purchase_id=pk, now=now),
        batch_size=batch_size,
    )


def purchase_deliver(*, purchase_id: UUID | str) -> TicketPurchase:
    """Sends the confirmation e-mail, then marks the purchase completed.

    The mail goes out before the lock is taken; a redelivered task may send it
    twice (at-least-once), never leaves a confirmed purchase undelivered.
    """
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


# --- Refund ------------------------------------------------------------------------
#
# A refund is two steps with the gateway call between them, and survives a crash
# at any point: `refund_pending` is recorded first (for a staff refund, in the
# same transaction that voids the codes, so none is scanned at the door while
# the money goes back), then the gateway refunds under the purchase's key, then
# the refund is recorded as done. A purchase left in `refund_pending` by a crash
# is finished by the refund sweep; asking the gateway twice refunds once.


def purchase_refund(*, purchase_id: UUID | str, allow_used: bool = False) -> TicketPurchase:
    """Staff refund of a paid purchase: the money goes back, the codes are void
    and the seats return to sale. Idempotent: a refunded purchase is returned as
    is. A code already used blocks the refund unless `allow_used`; if the
    gateway refuses or cannot be reached, the codes are valid again."""
    with transaction.atomic():
        purchase = _locked(purchase_id)
        if purchase.status == Status.REFUNDED:
            return purchase
        if purchase.status not in (Status.CONFIRMED, Status.COMPLETED):
            raise RefundRefused(f"a {purchase.status} purchase cannot be refunded")
        if purchase.payment_status != PaymentStatus.REFUND_PENDING:
            purchase.codes.filter(status=TicketCode.Status.VALID).update(
                status=TicketCode.Status.VOID
            )
            # Checked after voiding: a scan that raced us has committed by now (or is blocked).
            if not allow_used and purchase.codes.filter(status=TicketCode.Status.USED).exists():
                raise RefundRefused("a code of this purchase was already used at the door")
            _mark_refund_pending(purchase, reason="staff_refund")
    try:
        return purchase_refund_finish(purchase_id=purchase_id)
    except DependencyUnavailable:
        _refund_undo(purchase_id)  # the gateway was not reached: nothing to finish
        raise


def _mark_refund_pending(purchase: TicketPurchase, *, reason: str) -> None:
    purchase.payment_status = PaymentStatus.REFUND_PENDING
    purchase.refund_reason = reason
    purchase.save(update_fields=["payment_status", "refund_reason", "updated_at"])
    purchase_log(purchase, "refund started", from_status=purchase.status, note=reason)


def _refund_unhonoured(purchase_id: UUID | str) -> TicketPurchase:
    """Money was captured for a purchase that can no longer be confirmed (it
    expired, was cancelled or failed meanwhile): it goes back, and the purchase
    says so (`payment_status` refunded, `refund_reason`)."""
    with transaction.atomic():
        purchase = _locked(purchase_id)
        if purchase.status in HONOURED_STATUSES:
            return purchase  # confirmed after all: the capture is kept
        if purchase.payment_status not in (PaymentStatus.REFUND_PENDING, PaymentStatus.REFUNDED):
            _mark_refund_pending(purchase, reason=f"captured_after_{purchase.status}")
            logger.warning(
                "purchase %s: captured while %s, refunding", purchase.id, purchase.status
            )
    return purchase_refund_finish(purchase_id=purchase_id)


def purchase_refund_finish(*, purchase_id: UUID | str) -> TicketPurchase:
    """Takes a `refund_pending` purchase's money back at the gateway and records
    it. No lock is held across the call; safe to run twice (keyed refund)."""
    purchase = TicketPurchase.objects.get(pk=purchase_id)
    if purchase.payment_status != PaymentStatus.REFUND_PENDING:
        return purchase
    result = attempt.refund(key=str(purchase.id), amount=purchase.total_amount)
    if result.outcome != Outcome.REFUNDED:
        _refund_undo(purchase_id)
        raise RefundRefused(f"the gateway did not refund: {result.reason or result.outcome}")
    return _refund_record(purchase_id)


def _refund_undo(purchase_id: UUID | str) -> None:
    """The gateway refunded nothing: a paid purchase is paid again (its void
    codes can only have been voided by this refund); a purchase whose late
    capture the gateway no longer holds has no money to give back."""
    with transaction.atomic():
        purchase = _locked(purchase_id)
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
        purchase_log(purchase, "refund undone", from_status=purchase.status, note=note)


def _refund_record(purchase_id: UUID | str) -> TicketPurchase:
    """The gateway refunded: a paid purchase becomes refunded, its codes void
    and its seats back on sale (also after the event: the inventory always adds
    up); an unhonoured capture is recorded as refunded on the ended purchase."""
    with transaction.atomic():
        purchase = _locked(purchase_id)
        if purchase.payment_status != PaymentStatus.REFUND_PENDING:
            return purchase
        before = purchase.status
        if purchase.status in (Status.CONFIRMED, Status.COMPLETED):
            purchase.codes.exclude(status=TicketCode.Status.USED).update(
                status=TicketCode.Status.VOID
            )
            _release_if_reserved(purchase)
            purchase.status = Status.REFUNDED
        purchase.payment_status = PaymentStatus.REFUNDED
        purchase.refunded_at = timezone.now()
        purchase.save()
        purchase_log(purchase, "refunded", from_status=before, note=purchase.refund_reason)
    logger.info("purchase %s: refund recorded (%s)", purchase.id, purchase.refund_reason)
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
            enqueue_on_commit(RECONCILE_TASK, str(purchase.id))
        elif purchase.status == Status.PENDING:
            enqueue_on_commit(PROCESS_TASK, str(purchase.id))
        elif purchase.status == Status.CONFIRMED:
            enqueue_on_commit(DELIVER_TASK, str(purchase.id))
        else:
            raise IllegalTransition(f"a {purchase.status} purchase has nothing to re-run")
        purchase_log(purchase, "processing re-run", from_status=purchase.status)
    return purchase


# --- Sweeps ------------------------------------------------------------------------


def _requeue_sweep(queryset, *, label: str, order_by: str, task_name: str) -> int:
    """Re-enqueues each row that waited past REQUEUE_AFTER_SECONDS for `task_name`."""
    waited = timedelta(seconds=settings.REQUEUE_AFTER_SECONDS)

    def requeue(purchase_id: UUID) -> None:
        logger.warning("purchase %s: %s, re-enqueued", purchase_id, label)
        enqueue_on_commit(task_name, str(purchase_id))

    return sweep(queryset, label=label, order_by=order_by, hold=waited, handle=requeue)


def purchases_requeue_waiting() -> int:
    """Pending purchases whose processing never started, or whose submitted
    payment was never charged: their task was lost; it is sent again."""
    return _requeue_sweep(
        selectors.purchases_awaiting_processing(older_than_seconds=settings.REQUEUE_AFTER_SECONDS),
        label="waiting for processing",
        order_by="updated_at",
        task_name=PROCESS_TASK,
    )


def purchases_requeue_undelivered() -> int:
    """Confirmed purchases whose tickets were never sent ring the mailer again
    (it claims them itself: tickets/delivery.py)."""
    return delivery_ring_overdue()


def purchases_finish_refunds() -> int:
    """Refunds a crash left halfway are finished."""
    return _requeue_sweep(
        selectors.purchases_refund_unfinished(older_than_seconds=settings.REQUEUE_AFTER_SECONDS),
        label="refund unfinished",
        order_by="updated_at",
        task_name=REFUND_TASK,
    )


def purchases_sweep_stuck_payments(*, older_than_minutes: int, batch_size: int = 200) -> int:
    """Hands payments stuck in processing to reconcile tasks, which ask the
    gateway for the real outcome."""
    return sweep(
        selectors.purchases_stuck_in_payment(older_than_minutes=older_than_minutes),
        label="stuck ticket payments",
        order_by="payment_started_at",
        hold=timedelta(minutes=older_than_minutes),
        handle=lambda pk: enqueue_on_commit(RECONCILE_TASK, str(pk)),
        batch_size=batch_size,
    )
