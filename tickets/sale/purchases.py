"""A purchase's life outside its payment: accepted, seats reserved, the
payment handed over, expired or cancelled, handed back to the workers.

Each transition locks the purchase row, re-reads it, returns early when the
work is already done (so a task delivered twice changes nothing) and raises a
domain error on an illegal move. Taking the payment: tickets/sale/payment.py.
"""

import logging
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from project.queue import enqueue_on_commit
from project.sweeps import sweep
from project.tasks import (
    DELIVER_TASK,
    PROCESS_TASK,
    RECONCILE_TASK,
)
from tickets import inventory, selectors
from tickets.audit import purchase_log
from tickets.errors import (
    IllegalTransition,
    PaymentAlreadySubmitted,
    PurchaseNotPending,
    QuantityInvalid,
)
from tickets.inventory import purchase_locked
from tickets.models import Ticket, TicketPurchase
from tickets.sale import caps, doorbell
from tickets.sale.accept import purchase_store
from tickets.seats import purchase_seats_release

logger = logging.getLogger(__name__)

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


# --- Accepting and reserving ----------------------------------------------------------


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
    """Accepts a purchase as pending, by the API's rules (tickets/sale/accept.py:
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
        doorbell.batch_ring_on_commit(ticket_id)
    return TicketPurchase.objects.select_related("ticket").get(pk=body["purchase_id"])


def purchase_reserve(*, purchase_id: UUID | str) -> TicketPurchase:
    with transaction.atomic():
        purchase = purchase_locked(purchase_id)
        if purchase.status != Status.PENDING or purchase.inventory_reserved:
            return purchase
        purchase.processing_started_at = purchase.processing_started_at or timezone.now()
        unpaid = not purchase.payment_token
        if inventory.seats_take(
            ticket_id=purchase.ticket_id, quantity=purchase.quantity, unpaid=unpaid
        ):
            purchase.inventory_reserved = True
            purchase.holds_unpaid = unpaid
            if purchase.payment_token:
                # The payment begins with the reservation: one transaction, not two.
                payment_mark_processing(purchase)
            purchase_log(purchase, "seats reserved", from_status=Status.PENDING)
        elif _could_come_back(purchase):
            # Waits in line with the batch's purchases, which get seats coming back first.
            doorbell.batch_ring_on_commit(purchase.ticket_id)
            return purchase
        else:
            purchase.status = Status.FAILED
            purchase.failure_reason = _why_not_reserved(purchase)
            purchase_log(
                purchase, "failed", from_status=Status.PENDING, note=purchase.failure_reason
            )
            caps.seats_release_on_commit([purchase.pk])
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


def _could_come_back(purchase: TicketPurchase) -> bool:
    """Whether seats in flight could still seat the purchase. A stale read is
    harmless: whatever ends a purchase in flight rings the batch, which looks
    at the ones waiting again."""
    free = Ticket.objects.values_list("available_quantity", flat=True).get(pk=purchase.ticket_id)
    return (
        free < purchase.quantity <= free + selectors.seats_in_flight(ticket_id=purchase.ticket_id)
    )


def _why_not_reserved(purchase: TicketPurchase) -> str:
    free = Ticket.objects.values_list("available_quantity", flat=True).get(pk=purchase.ticket_id)
    return "sold_out" if free < purchase.quantity else "unpaid_holds_full"


def purchase_submit_payment(*, purchase_id: UUID | str, payment_token: str) -> TicketPurchase:
    """`complete/`: the buyer hands over a payment token for a pending purchase."""
    with transaction.atomic():
        purchase = purchase_locked(purchase_id)
        if purchase.status != Status.PENDING:
            raise PurchaseNotPending()
        if purchase.payment_token or purchase.payment_status != PaymentStatus.PENDING:
            raise PaymentAlreadySubmitted()
        purchase.payment_token = payment_token
        purchase.save(update_fields=["payment_token", "updated_at"])
        purchase_log(purchase, "payment submitted", from_status=Status.PENDING)
        enqueue_on_commit(PROCESS_TASK, str(purchase.id))
    return purchase


def payment_mark_processing(purchase: TicketPurchase) -> None:
    purchase.payment_status = PaymentStatus.PROCESSING
    purchase.payment_started_at = timezone.now()


# Payments that never started, or wait for the buyer to authenticate: the hold's
# expiry ends them (a capture arriving later is refunded: tickets/refunds/services.py).
UNPAID_PAYMENT_STATUSES = (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION)


def _end_unpaid(purchase: TicketPurchase, status: str) -> TicketPurchase:
    """Expire or cancel a locked purchase whose payment never started, or never
    got the buyer's authentication."""
    if purchase.status == status:
        return purchase
    if purchase.status != Status.PENDING:
        raise PurchaseNotPending(f"cannot move a {purchase.status} purchase to {status}")
    if purchase.payment_status not in UNPAID_PAYMENT_STATUSES:
        raise IllegalTransition("a payment is in progress; the sweep will settle it")
    if purchase.payment_status == PaymentStatus.REQUIRES_ACTION:
        purchase.payment_status = PaymentStatus.FAILED
        purchase.payment_client_secret = ""
        # A worker cancels the charge at the gateway (gateways/attempt.py `abandon`).
        enqueue_on_commit(RECONCILE_TASK, str(purchase.id))
    purchase_seats_release(purchase)
    purchase.status = status
    purchase.save()
    purchase_log(purchase, str(status), from_status=Status.PENDING, note="seats released")
    caps.seats_release_on_commit([purchase.pk])
    return purchase


def purchase_expire(*, purchase_id: UUID | str, now: datetime | None = None) -> TicketPurchase:
    with transaction.atomic():
        purchase = purchase_locked(purchase_id)
        if purchase.status == Status.PENDING and purchase.hold_expires_at > (now or timezone.now()):
            raise IllegalTransition("the hold has not expired yet")
        return _end_unpaid(purchase, Status.EXPIRED)


def purchase_cancel(*, purchase_id: UUID | str) -> TicketPurchase:
    with transaction.atomic():
        return _end_unpaid(purchase_locked(purchase_id), Status.CANCELLED)


def purchases_expire_due(*, now: datetime | None = None, batch_size: int = 200) -> int:
    """The beat's expiry sweep: every unpaid purchase past its hold expires, each
    in its own transaction, so one that cannot is logged and skipped, never
    holding up the rest."""
    now = now or timezone.now()
    due = TicketPurchase.objects.filter(
        status=Status.PENDING,
        payment_status__in=UNPAID_PAYMENT_STATUSES,
        hold_expires_at__lte=now,
    )
    return sweep(
        due,
        label="expire unpaid purchases",
        order_by="hold_expires_at",
        hold=timedelta(seconds=settings.SWEEP_INTERVAL_SECONDS),
        handle=lambda pk: purchase_expire(purchase_id=pk, now=now),
        batch_size=batch_size,
    )


def purchase_retry_processing(*, purchase_id: UUID | str) -> TicketPurchase:
    """Admin: hand a stalled purchase back to the workers. What is re-run depends
    on where it stopped; every step it triggers is itself idempotent."""
    purchase = TicketPurchase.objects.get(pk=purchase_id)
    with transaction.atomic():
        if purchase.status == Status.PENDING and purchase.payment_status in (
            PaymentStatus.PROCESSING,
            PaymentStatus.REQUIRES_ACTION,
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
