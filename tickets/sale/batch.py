"""The batched pipeline: a ticket's pending purchases are decided together.

A purchase does not get a task of its own. Its commit rings its ticket's
doorbell (project/queue.py: one waiting message per ticket at most), and the
worker that answers it claims up to BATCH_SIZE pending purchases of the ticket
(FOR UPDATE SKIP LOCKED, so several workers share a queue without waiting on
each other), then:

1. reserve: one transaction locks the ticket row, takes the seats of every
   purchase that fits with one conditional UPDATE and marks the rest failed
   (sold out) in bulk;
2. charge: one gateway round trip for the batch, no transaction open;
3. settle: one transaction confirms the captured purchases in bulk (one
   multi-row INSERT of their codes), fails the declined ones and gives their
   seats back; a purchase whose charge hit a transient error goes to the
   per-purchase task (tickets/sale/purchases.py), which owns the retry policy.

Every step is idempotent (rows are re-checked under lock), and the sweeps
re-ring for purchases that waited too long, so a lost doorbell costs latency,
never a purchase.
"""

import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from prometheus_client import Histogram

from gateways import Outcome
from gateways.attempt import Plan
from project.log_context import bind_purchase
from project.queue import ring_along
from project.tasks import BATCH_TASK
from tickets import inventory, selectors
from tickets.audit import purchase_log_many
from tickets.codes import codes_issue_many
from tickets.delivery.mailer import delivery_ring_on_commit
from tickets.line import restamp_on_commit
from tickets.models import Ticket, TicketPurchase
from tickets.sale import caps, waiting_room
from tickets.sale.confirm_rows import purchases_confirm_rows
from tickets.sale.doorbell import batch_ring_on_commit, doorbell_key
from tickets.waiting_list.offers import seats_returned

logger = logging.getLogger(__name__)

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus

# One ticket sells no faster than its row is taken in turn: purchases per batch
# / hold time (docs/capacity.md). Observed after commit, once per batch locking it.
RESERVE_HOLD = Histogram(
    "tickets_batch_reserve_hold_seconds",
    "How long a batch's reserve transaction holds its ticket's row: lock to commit.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


def batch_accepted(ticket_id: int, purchase_id) -> int:
    """A committed purchase takes its place in its ticket's line and rings its
    batch, in one Redis round trip; returns its Retry-After (tickets/sale/waiting_room.py).
    Never raises."""
    _, results = ring_along(
        BATCH_TASK,
        ticket_id,
        key=doorbell_key(ticket_id),
        hold_seconds=settings.BATCH_DOORBELL_SECONDS,
        along=lambda pipe: waiting_room.queue_accepted(pipe, ticket_id, purchase_id),
    )
    return waiting_room.retry_after_accepted(results)


# --- Bulk transitions ----------------------------------------------------------------

CLAIM_FIELDS = (
    "id",
    "ticket_id",
    "quantity",
    "payment_token",
    "total_amount",
    "currency",
    "status",
    "gateway_reference",
    "created_at",  # for the accept-to-confirmed histogram (tickets/metrics.py)
    "request_id",  # for the lines about it (project/log_context.py)
)


@dataclass
class Reserved:
    claimed: list  # ids of the purchases decided by the reservation (seated or failed)
    to_charge: list[TicketPurchase]  # seated with a payment token: charge them now
    looked_at: int = 0  # purchases claimed, decided or left waiting in line
    left_waiting: int = 0  # no free seat yet, but seats in flight could come back


def reserve_batch(ticket_id: int, *, size: int) -> Reserved:
    """Claims up to `size` of the ticket's waiting purchases, oldest first, and
    in one transaction seats every one that fits (one conditional UPDATE of the
    ticket row), leaves in line those that seats still in flight could serve,
    and fails the others (sold out, or unpaid holds full)."""
    with transaction.atomic():
        waiting = list(
            TicketPurchase.objects.select_for_update(skip_locked=True)
            .filter(ticket_id=ticket_id, status=Status.PENDING, inventory_reserved=False)
            .order_by("created_at")
            .only(*CLAIM_FIELDS)[:size]
        )
        if not waiting:
            return Reserved([], [])
        # FOR NO KEY UPDATE: batches still take turns on the ticket row, but a
        # purchase being inserted (its foreign key takes FOR KEY SHARE on the
        # row) does not wait for the batch to commit.
        ticket = (
            Ticket.objects.select_for_update(no_key=True)
            .only("available_quantity", "unpaid_held_quantity", "total_quantity")
            .get(pk=ticket_id)
        )
        # The first callback to run once COMMIT returns: the row is free again.
        locked_at = time.perf_counter()
        transaction.on_commit(lambda: RESERVE_HOLD.observe(time.perf_counter() - locked_at))
        seating = _seat_in_order(waiting, ticket)
        _take_seats(ticket_id, seating)
        now = timezone.now()
        _mark(
            seating.paid,
            inventory_reserved=True,
            seated_in_batch=True,
            payment_status=PaymentStatus.PROCESSING,
            processing_started_at=now,
            payment_started_at=now,
            updated_at=now,
        )
        _mark(
            seating.unpaid,
            inventory_reserved=True,
            holds_unpaid=True,
            processing_started_at=now,
            updated_at=now,
        )
        purchase_log_many(
            seating.paid + seating.unpaid, "seats reserved", from_status=Status.PENDING
        )
        # Looked at and left in line: not a purchase a lost message stranded,
        # so the requeue sweep leaves it to the batch for REQUEUE_AFTER_SECONDS.
        _mark(seating.waiting, processing_started_at=now, updated_at=now)
        # Still in line: their polls' Redis answers follow the new stamp.
        restamp_on_commit(ticket_id, [p.pk for p in seating.waiting], now.isoformat())
        for reason, purchases in seating.refused.items():
            _mark(
                purchases,
                status=Status.FAILED,
                failure_reason=reason,
                processing_started_at=now,
                updated_at=now,
            )
            purchase_log_many(purchases, "failed", from_status=Status.PENDING, note=reason)
            caps.seats_release_on_commit(purchase.pk for purchase in purchases)
    _log_reserved(seating)
    decided = seating.paid + seating.unpaid + [p for ps in seating.refused.values() for p in ps]
    return Reserved(
        [purchase.pk for purchase in decided],
        seating.paid,
        looked_at=len(waiting),
        left_waiting=len(seating.waiting),
    )


def _log_reserved(seating: "_Seating") -> None:
    """A line per purchase decided, under its own ids (committed: it is true).
    Nothing to bind when INFO is off (the bench runs at WARNING)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    for purchase in seating.paid:
        with bind_purchase(purchase):
            logger.info(
                "purchase %s: %d seat(s) reserved, charging", purchase.pk, purchase.quantity
            )
    for purchase in seating.unpaid:
        with bind_purchase(purchase):
            logger.info("purchase %s: %d seat(s) held until paid", purchase.pk, purchase.quantity)
    for reason, purchases in seating.refused.items():
        for purchase in purchases:
            with bind_purchase(purchase):
                logger.info("purchase %s failed: %s", purchase.pk, reason)


def charges_in_flight(ticket_id: int, *, size: int) -> list[TicketPurchase]:
    """Purchases a batch seated whose charge began and has no answer yet: after a
    worker died mid-batch, these are charged again (keyed, so the gateway
    answers what it holds; settling re-checks every row under lock). Purchases
    charging under their own task are theirs to settle."""
    return list(
        TicketPurchase.objects.filter(
            ticket_id=ticket_id,
            status=Status.PENDING,
            inventory_reserved=True,
            seated_in_batch=True,
            payment_status=PaymentStatus.PROCESSING,
        )
        .exclude(payment_token="")
        .order_by("payment_started_at")
        .only(*CLAIM_FIELDS)[:size]
    )


@dataclass
class _Seating:
    paid: list[TicketPurchase] = field(default_factory=list)
    unpaid: list[TicketPurchase] = field(default_factory=list)
    refused: dict[str, list[TicketPurchase]] = field(default_factory=dict)
    waiting: list[TicketPurchase] = field(default_factory=list)


class _SeatsInFlight:
    """Seats that could still come back to the line: those held by purchases
    not yet ended (read once, under the ticket's lock, and only when a purchase
    does not fit), plus those this batch seats, minus those promised to
    purchases already left waiting ahead."""

    def __init__(self, ticket_id: int):
        self.ticket_id = ticket_id
        self.promised = 0
        self.seated_now = 0
        self._held: int | None = None

    def left(self) -> int:
        if self._held is None:
            self._held = selectors.seats_in_flight(ticket_id=self.ticket_id)
        return self._held + self.seated_now - self.promised


def _seat_in_order(waiting: list[TicketPurchase], ticket: Ticket) -> _Seating:
    """First come, first seated: each purchase takes its seats if they are still
    free (an unpaid one also needs room under UNPAID_HOLDS_MAX_PERCENT), the
    same rule as inventory.seats_take, applied to a whole batch. A purchase
    that does not fit while seats in flight could still come back for it waits
    in line, keeping what is free for itself (no one behind takes it), and is
    looked at again by the next batch; one that nothing could serve is sold
    out. So a charge declined at once never costs the buyer behind it a seat."""
    free = ticket.available_quantity
    unpaid_room = (
        ticket.total_quantity * settings.UNPAID_HOLDS_MAX_PERCENT // 100
        - ticket.unpaid_held_quantity
    )
    in_flight = _SeatsInFlight(ticket.pk)
    seating = _Seating()
    for purchase in waiting:
        unpaid = not purchase.payment_token
        if purchase.quantity > free:
            if purchase.quantity - free <= in_flight.left():
                in_flight.promised += purchase.quantity - free
                free = 0
                seating.waiting.append(purchase)
            else:
                seating.refused.setdefault("sold_out", []).append(purchase)
        elif unpaid and purchase.quantity > unpaid_room:
            seating.refused.setdefault("unpaid_holds_full", []).append(purchase)
        else:
            free -= purchase.quantity
            in_flight.seated_now += purchase.quantity
            if unpaid:
                unpaid_room -= purchase.quantity
                seating.unpaid.append(purchase)
            else:
                seating.paid.append(purchase)
    return seating


def _take_seats(ticket_id: int, seating: _Seating) -> None:
    inventory.seats_take_batch(
        ticket_id=ticket_id,
        paid=sum(purchase.quantity for purchase in seating.paid),
        unpaid=sum(purchase.quantity for purchase in seating.unpaid),
    )


def settle_batch(
    ticket_id: int,
    *,
    captured: list[tuple[TicketPurchase, Plan]],
    refused: list[tuple[TicketPurchase, Plan]],
) -> list[tuple[TicketPurchase, Plan]]:
    """The gateway's answers for a batch, in one transaction: captured purchases
    are confirmed with their codes (one INSERT), refused ones fail and give
    their seats back. Returns the answers this could not apply, because the
    purchase moved on meanwhile or a batch did not seat it (its unpaid hold, its
    waiting-list offer have rules of their own); the caller applies those one by
    one."""
    wanted = [purchase.pk for purchase, _ in captured + refused]
    with transaction.atomic():
        still_charging = set(
            TicketPurchase.objects.select_for_update()
            .filter(
                pk__in=wanted,
                status=Status.PENDING,
                inventory_reserved=True,
                seated_in_batch=True,
                holds_unpaid=False,
                payment_status=PaymentStatus.PROCESSING,
            )
            .values_list("pk", flat=True)
        )
        now = timezone.now()
        confirmed = _confirm_all(
            [(p, plan) for p, plan in captured if p.pk in still_charging], now=now
        )
        failed = _fail_all(
            ticket_id, [(p, plan) for p, plan in refused if p.pk in still_charging], now=now
        )
        caps.seats_release_on_commit(still_charging)
        if confirmed:
            delivery_ring_on_commit()
            line_ring_on_commit(ticket_id)
    _log_settled(confirmed, failed)
    return [(p, plan) for p, plan in captured + refused if p.pk not in still_charging]


def _log_settled(confirmed: list[TicketPurchase], failed: list[tuple[TicketPurchase, str]]):
    if not logger.isEnabledFor(logging.INFO):
        return
    for purchase in confirmed:
        with bind_purchase(purchase):
            logger.info("purchase %s confirmed: payment captured", purchase.pk)
    for purchase, reason in failed:
        with bind_purchase(purchase):
            logger.info("purchase %s failed: %s", purchase.pk, reason)


def line_ring_on_commit(ticket_id: int) -> None:
    """Seats in flight were sold for good: purchases left waiting in line for
    them may now be sold out, so the next batch looks at them again."""
    if selectors.seats_wanted_in_line(ticket_id=ticket_id, up_to=1):
        batch_ring_on_commit(ticket_id)


def _confirm_all(captured: list[tuple[TicketPurchase, Plan]], *, now) -> list[TicketPurchase]:
    purchases = []
    for purchase, plan in captured:
        purchase.status = Status.CONFIRMED
        purchase.payment_status = PaymentStatus.COMPLETED
        purchase.gateway_reference = plan.result.reference
        purchase.confirmed_at = now
        purchase.updated_at = now
        purchases.append(purchase)
    if not purchases:
        return []
    purchases_confirm_rows(purchases)
    codes_issue_many(purchases)
    purchase_log_many(purchases, "confirmed", from_status=Status.PENDING, note="payment captured")
    return purchases


def _fail_all(
    ticket_id: int, refused: list[tuple[TicketPurchase, Plan]], *, now
) -> list[tuple[TicketPurchase, str]]:
    """Fails the refused purchases; answers each with its reason."""
    if not refused:
        return []
    seats = sum(purchase.quantity for purchase, _ in refused)
    seats_returned(ticket_id=ticket_id, seats=seats)  # the waiting list first
    by_reason: dict[tuple[str, str], list[TicketPurchase]] = {}
    for purchase, plan in refused:
        reason = "payment_declined" if plan.outcome == Outcome.DECLINED else "payment_error"
        by_reason.setdefault((reason, plan.result.reason), []).append(purchase)
    for (reason, gateway_reason), purchases in by_reason.items():
        _mark(
            purchases,
            status=Status.FAILED,
            failure_reason=reason,
            payment_status=PaymentStatus.FAILED,
            inventory_reserved=False,
            updated_at=now,
        )
        # The gateway's own words (Stripe's decline_code) stay in the audit trail.
        note = f"{reason}: {gateway_reason}" if gateway_reason else reason
        purchase_log_many(purchases, "failed", from_status=Status.PENDING, note=note)
    return [
        (purchase, reason) for (reason, _), purchases in by_reason.items() for purchase in purchases
    ]


def _mark(purchases: list[TicketPurchase], **changes) -> None:
    """One UPDATE for the whole group; the objects in hand follow."""
    if not purchases:
        return
    TicketPurchase.objects.filter(pk__in=[purchase.pk for purchase in purchases]).update(**changes)
    for purchase in purchases:
        for name, value in changes.items():
            setattr(purchase, name, value)
