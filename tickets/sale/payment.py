"""Taking the payment of a purchase, one locked transition per step.

A ticket's doorbell is answered by deciding its waiting purchases a batch at a
time (tickets/sale/batch.py); a purchase on its own (a retry, a `complete/`,
a waiting-list offer) is reserved and charged alone. No lock is held while
the payment gateway is called: reserve (short transaction) -> charge (no
transaction) -> confirm or fail (short transaction). The gateway's answer is
mapped to an action once (gateways/attempt.py) and carried out here.
"""

import logging
import time
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateways import ChargeRequest, Outcome, attempt
from gateways.attempt import Action, PaymentView, Plan
from gateways.simulated import SimulatedGateway
from project.log_context import bind_purchase
from project.queue import enqueue_on_commit
from project.tasks import (
    PROCESS_TASK,
    RECONCILE_TASK,
)
from tickets import inventory
from tickets.audit import purchase_log
from tickets.codes import codes_issue
from tickets.delivery.mailer import delivery_ring_on_commit
from tickets.errors import (
    IllegalTransition,
    PurchaseNotPending,
)
from tickets.inventory import purchase_locked
from tickets.models import TicketPurchase
from tickets.refunds.services import HONOURED_STATUSES, refund_unhonoured
from tickets.sale import batch, caps, doorbell, waiting_room
from tickets.sale.purchases import payment_mark_processing, purchase_reserve
from tickets.seats import purchase_seats_release
from tickets.waiting_list import offers

logger = logging.getLogger(__name__)

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


def ticket_process_batches(*, ticket_id: int, resume: bool = False) -> int:
    """The worker's answer to a ticket's doorbell: decides its waiting purchases
    a batch at a time (tickets/batch.py) until none is left; returns how many.

    `resume`: the doorbell was redelivered because the worker that took it
    died, maybe between a batch's charge and its settling: the ticket's charges
    in flight are asked again first (a live batch settling the same purchases
    meanwhile is harmless: the charge is keyed, and settling checks each row)."""
    if resume:
        _charge_batch(ticket_id, batch.charges_in_flight(ticket_id, size=10 * settings.BATCH_SIZE))
    doorbell.batch_answer(ticket_id)  # after BATCH_LINGER_MS: a burst gathers
    decided = 0
    while True:
        started = time.monotonic()
        reserved = batch.reserve_batch(ticket_id, size=settings.BATCH_SIZE)
        _charge_batch(ticket_id, reserved.to_charge)
        decided += len(reserved.claimed)
        # Purchases left waiting in line are looked at again when seats in
        # flight come back or are sold (tickets/sale/batch.py), not in a loop here.
        drained = reserved.looked_at < settings.BATCH_SIZE or not reserved.claimed
        if reserved.claimed:
            waiting_room.note_decided(
                ticket_id,
                count=len(reserved.claimed),
                seconds=time.monotonic() - started,
                drained=drained and not reserved.left_waiting,
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
            with bind_purchase(purchase):
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
        with bind_purchase(purchase):
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


def _payment_begin(purchase_id: UUID | str) -> TicketPurchase | None:
    """Marks the payment as processing; None when there is nothing to charge."""
    with transaction.atomic():
        purchase = purchase_locked(purchase_id)
        if purchase.status != Status.PENDING or purchase.payment_status not in (
            PaymentStatus.PENDING,
            PaymentStatus.PROCESSING,
        ):
            return None
        if not purchase.inventory_reserved:
            raise IllegalTransition("seats must be reserved before the payment is taken")
        if purchase.payment_status == PaymentStatus.PENDING:
            payment_mark_processing(purchase)
            purchase.save(update_fields=["payment_status", "payment_started_at", "updated_at"])
            purchase_log(purchase, "payment started", from_status=Status.PENDING)
    return purchase


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
            return purchase_fail(
                purchase_id=purchase_id, reason=reason, gateway_reason=plan.result.reason
            )
        case Action.CHARGE_AGAIN:
            return purchase_charge(purchase_id=purchase_id)
        case Action.REFUND:
            return refund_unhonoured(purchase_id)
        case Action.AWAIT_BUYER:
            return purchase_await_authentication(
                purchase_id=purchase_id, client_secret=plan.result.client_secret
            )
        case Action.ABANDON:
            return _apply(purchase_id, attempt.abandon(key=str(purchase_id)))
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


def purchase_confirm(*, purchase_id: UUID | str, gateway_reference: str) -> TicketPurchase:
    """Payment captured: the purchase is confirmed with exactly `quantity` codes."""
    with transaction.atomic():
        purchase = purchase_locked(purchase_id)
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
        purchase.payment_client_secret = ""
        purchase.confirmed_at = timezone.now()
        inventory.unpaid_hold_settle(purchase)
        purchase.save(
            update_fields=[
                "status",
                "payment_status",
                "gateway_reference",
                "payment_client_secret",
                "confirmed_at",
                "holds_unpaid",
                "updated_at",
            ]
        )
        codes_issue(purchase=purchase)
        purchase_log(purchase, "confirmed", from_status=Status.PENDING, note="payment captured")
        caps.seats_release_on_commit([purchase.pk])
        delivery_ring_on_commit()
        batch.line_ring_on_commit(purchase.ticket_id)
    with bind_purchase(purchase):
        logger.info("purchase %s confirmed: payment captured", purchase.id)
    return purchase


def purchase_await_authentication(*, purchase_id: UUID | str, client_secret: str) -> TicketPurchase:
    """The gateway waits for the buyer to authenticate (3-D Secure): the
    purchase says so, with the secret the buyer's browser needs, and keeps its
    seats until the hold expires. The outcome comes by webhook or the sweep."""
    with transaction.atomic():
        purchase = purchase_locked(purchase_id)
        if purchase.status != Status.PENDING or purchase.payment_status not in (
            PaymentStatus.PROCESSING,
            PaymentStatus.REQUIRES_ACTION,
        ):
            return purchase
        if (
            purchase.payment_status == PaymentStatus.REQUIRES_ACTION
            and purchase.payment_client_secret == client_secret
        ):
            return purchase
        purchase.payment_status = PaymentStatus.REQUIRES_ACTION
        purchase.payment_client_secret = client_secret
        purchase.save(update_fields=["payment_status", "payment_client_secret", "updated_at"])
        purchase_log(purchase, "payment requires action", from_status=Status.PENDING)
    with bind_purchase(purchase):
        logger.info("purchase %s: waiting for the buyer to authenticate", purchase.id)
    return purchase


def purchase_fail(
    *, purchase_id: UUID | str, reason: str, gateway_reason: str = ""
) -> TicketPurchase:
    """Fails a pending purchase and gives its seats back; `gateway_reason` (e.g.
    Stripe's decline_code) is kept in the audit trail."""
    with transaction.atomic():
        purchase = purchase_locked(purchase_id)
        if purchase.status == Status.FAILED:
            return purchase
        if purchase.status != Status.PENDING:
            raise PurchaseNotPending(f"cannot fail a {purchase.status} purchase")
        # Bought through a waiting-list offer that still runs: the seats go back
        # to that offer, so its buyer can try another card.
        declined = reason == "payment_declined" and purchase.inventory_reserved
        if declined and offers.offer_reopen(purchase):
            purchase.inventory_reserved = purchase.holds_unpaid = False
        purchase_seats_release(purchase)
        purchase.status = Status.FAILED
        purchase.failure_reason = reason
        if purchase.payment_status in (PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION):
            purchase.payment_status = PaymentStatus.FAILED
        purchase.save()
        note = f"{reason}: {gateway_reason}" if gateway_reason else reason
        purchase_log(purchase, "failed", from_status=Status.PENDING, note=note)
        caps.seats_release_on_commit([purchase.pk])
    with bind_purchase(purchase):
        logger.info("purchase %s failed: %s", purchase.id, reason)
    return purchase
