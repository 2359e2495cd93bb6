"""Cancelling an event: the ticket goes off sale and everyone is refunded.

`event_cancel_figures` is the dry run (it changes nothing). `event_cancel`
records the cancellation with those figures frozen, takes the ticket off sale
in the same transaction, then `cancellation_advance` does the rest, each step
its own short transaction: open unpaid holds end (seats back), waiting-list
entries and offers end, and every paid purchase is handed to a task on the
`cancellations` queue, which refunds it through the one refund service
(tickets/refunds/services.py: the refund has its own key at the gateway, so a
task run twice refunds once; the buyer gets the refund e-mail).

Charges in flight when the event is cancelled are left to the payment
pipeline: whatever it decides, a purchase it confirms is paid, and the next
`cancellation_advance` refunds it. The beat's resume sweep runs
`cancellation_advance` for every running cancellation, so a crash anywhere
costs latency, never a refund; the cancellation is done when no purchase of
the ticket is left to refund.

Progress is read from the purchases themselves: done = refunded for this
cancellation, failed = the gateway refused the refund (the refund was undone),
pending = the rest (paid and not refunded yet, refund pending, charge in flight).
"""

import logging
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet, Sum
from django.utils import timezone

from project.queue import enqueue_on_commit
from project.sweeps import sweep
from project.tasks import CANCELLATION_REFUND_TASK, CANCELLED_ENTRY_MAIL_TASK
from tickets import inventory
from tickets.audit import ticket_log
from tickets.delivery.emails import entry_cancelled_message
from tickets.errors import IllegalTransition, PurchaseNotPending
from tickets.models import (
    EventCancellation,
    PurchaseEvent,
    Ticket,
    TicketCode,
    TicketPurchase,
    WaitingListEntry,
)
from tickets.refunds import services as refunds
from tickets.sale.purchases import UNPAID_PAYMENT_STATUSES, purchase_cancel
from tickets.waiting_list.offers import offer_end, seats_returned
from tickets.waiting_list.services import offer_link

logger = logging.getLogger(__name__)

REFUND_REASON = "event_cancelled"

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus
State = WaitingListEntry.State
PAID = (Status.CONFIRMED, Status.COMPLETED)
CENTS = Decimal("0.01")


# --- Reads --------------------------------------------------------------------------------


def _paid(ticket_id: int) -> QuerySet[TicketPurchase]:
    return TicketPurchase.objects.filter(
        ticket_id=ticket_id, status__in=PAID, payment_status=PaymentStatus.COMPLETED
    )


def _open_holds(ticket_id: int) -> QuerySet[TicketPurchase]:
    """Pending purchases whose payment has not started, or waits for the buyer's
    bank (3-D Secure): they can simply end (a worker cancels such a charge at the
    gateway; one the buyer completed meanwhile is refunded when it is captured)."""
    return TicketPurchase.objects.filter(
        ticket_id=ticket_id, status=Status.PENDING, payment_status__in=UNPAID_PAYMENT_STATUSES
    )


def _in_flight(ticket_id: int) -> QuerySet[TicketPurchase]:
    return TicketPurchase.objects.filter(
        ticket_id=ticket_id, status=Status.PENDING, payment_status=PaymentStatus.PROCESSING
    )


def _active_entries(ticket_id: int) -> QuerySet[WaitingListEntry]:
    return WaitingListEntry.objects.filter(
        ticket_id=ticket_id, state__in=WaitingListEntry.ACTIVE_STATES
    )


def _money(purchases: QuerySet[TicketPurchase]) -> dict[str, str]:
    rows = purchases.order_by().values("currency").annotate(total=Sum("total_amount"))
    # Two places as stored (SQLite's SUM drops them).
    return {row["currency"]: str(Decimal(row["total"]).quantize(CENTS)) for row in rows}


def event_cancel_figures(*, ticket_id: int) -> dict:
    """The dry run: what cancelling the ticket's event would do, changing nothing."""
    paid = _paid(ticket_id)
    entries = _active_entries(ticket_id)
    return {
        "purchases_to_refund": paid.count(),
        "money_to_refund": _money(paid),
        "codes_scanned": TicketCode.objects.filter(
            purchase__in=paid, status=TicketCode.Status.USED
        ).count(),
        "open_holds": _open_holds(ticket_id).count(),
        "waiting_list_entries": entries.exclude(state=State.OFFERED).count(),
        "waiting_list_offers": entries.filter(state=State.OFFERED).count(),
        "charges_in_flight": _in_flight(ticket_id).count(),
    }


def _refund_undone_since(cancellation: EventCancellation):
    return Exists(
        PurchaseEvent.objects.filter(
            purchase=OuterRef("pk"),
            action=refunds.REFUND_UNDONE,
            at__gte=cancellation.created_at,
        )
    )


def _failed(cancellation: EventCancellation) -> QuerySet[TicketPurchase]:
    """Paid purchases whose refund the gateway refused since the cancellation."""
    return _paid(cancellation.ticket_id).filter(_refund_undone_since(cancellation))


def _to_refund(cancellation: EventCancellation) -> QuerySet[TicketPurchase]:
    return _paid(cancellation.ticket_id).exclude(_refund_undone_since(cancellation))


def cancellation_progress(cancellation: EventCancellation) -> dict:
    """done / pending / failed purchases and the money refunded so far, from the
    purchases themselves."""
    ticket_id = cancellation.ticket_id
    done = TicketPurchase.objects.filter(
        ticket_id=ticket_id, refund_reason=REFUND_REASON, payment_status=PaymentStatus.REFUNDED
    )
    refunding = TicketPurchase.objects.filter(
        ticket_id=ticket_id, payment_status=PaymentStatus.REFUND_PENDING
    )
    counts = {
        "done": done.count(),
        "failed": _failed(cancellation).count(),
        "pending": _to_refund(cancellation).count()
        + refunding.count()
        + _in_flight(ticket_id).count(),
    }
    return {**counts, "money_refunded": _money(done)}


# --- Writes -------------------------------------------------------------------------------


def event_cancel(*, ticket_id: int, user=None) -> EventCancellation:
    """Cancels the ticket's event: off sale at once, the dry run's figures frozen,
    then holds, offers and refunds under way. Asked again for the same ticket,
    answers the cancellation already made and changes nothing."""
    with transaction.atomic():
        inventory.lock_in_order(ticket_id=ticket_id)
        existing = EventCancellation.objects.filter(ticket_id=ticket_id).first()
        if existing is not None:
            return existing
        figures = event_cancel_figures(ticket_id=ticket_id)
        Ticket.objects.filter(pk=ticket_id).update(is_on_sale=False, updated_at=timezone.now())
        cancellation = EventCancellation.objects.create(
            ticket_id=ticket_id,
            requested_by=user,
            figures=figures,
            sweep_claimed_at=timezone.now(),  # the resume sweep leaves it to this call first
        )
        ticket = Ticket.objects.get(pk=ticket_id)
        note = f"{figures['purchases_to_refund']} purchase(s) to refund"
        ticket_log(ticket, "event cancelled", note=note)
    logger.info("ticket %s: event cancelled, %s", ticket_id, note)
    cancellation_advance(cancellation_id=cancellation.pk)
    return cancellation


def cancellation_advance(
    *, cancellation_id: int, stalled_after: timedelta | None = None
) -> EventCancellation:
    """Moves a cancellation on from wherever it stopped; safe to run any number
    of times: ends what is still open, hands every purchase still to refund to
    a refund task, and records the cancellation as done when nothing is left.
    With `stalled_after` (the sweep), the refunds are sent again only when none
    was recorded for that long: while the workers get through a big event's
    queue, the sweep does not pile copies of it behind them."""
    cancellation = EventCancellation.objects.get(pk=cancellation_id)
    if cancellation.status == EventCancellation.Status.DONE:
        return cancellation
    ticket_id = cancellation.ticket_id
    _end_holds(ticket_id)
    _end_waiting_list(ticket_id)
    # Refunds a crash left pending are finished by the same task.
    unfinished = TicketPurchase.objects.filter(
        ticket_id=ticket_id,
        refund_reason=REFUND_REASON,
        payment_status=PaymentStatus.REFUND_PENDING,
    )
    to_refund = [
        *_to_refund(cancellation).values_list("pk", flat=True),
        *unfinished.values_list("pk", flat=True),
    ]
    if stalled_after is None or not _refunded_since(ticket_id, timezone.now() - stalled_after):
        for purchase_id in to_refund:
            enqueue_on_commit(CANCELLATION_REFUND_TASK, str(purchase_id))
    left_open = _open_holds(ticket_id).exists() or _active_entries(ticket_id).exists()
    if not to_refund and not left_open and not cancellation_progress(cancellation)["pending"]:
        _finish(cancellation_id)
    return EventCancellation.objects.get(pk=cancellation_id)


def _refunded_since(ticket_id: int, since) -> bool:
    return TicketPurchase.objects.filter(
        ticket_id=ticket_id, refund_reason=REFUND_REASON, refunded_at__gte=since
    ).exists()


def _end_holds(ticket_id: int) -> None:
    # Purchases waiting in line for seats first, so freed seats never seat them.
    holds = _open_holds(ticket_id).order_by("inventory_reserved", "created_at")
    for purchase_id in holds.values_list("pk", flat=True):
        try:
            purchase_cancel(purchase_id=purchase_id)
        except (IllegalTransition, PurchaseNotPending) as exc:
            # Its payment began meanwhile: a charge in flight, refunded once captured.
            logger.info("purchase %s: not cancelled (%s); left to its payment", purchase_id, exc)


def _end_waiting_list(ticket_id: int) -> None:
    """Every entry ends, the ones in line before the offers (an offer ending
    passes its seats to whoever still waits); then what was kept for the line
    goes back (off sale, the ticket's counters still add up)."""
    for _ in range(3):  # an offer made meanwhile by another path is caught next pass
        entries = _active_entries(ticket_id)
        in_line = list(entries.exclude(state=State.OFFERED).values_list("pk", flat=True))
        offered = list(entries.filter(state=State.OFFERED).values_list("pk", flat=True))
        if not in_line and not offered:
            break
        for entry_id in in_line + offered:
            entry_cancel(entry_id=entry_id)
    with transaction.atomic():
        seats_returned(ticket_id=ticket_id, seats=0)


def entry_cancel(*, entry_id: UUID | str) -> WaitingListEntry:
    """A waiting-list entry of a cancelled event ends; an open offer's seats go back."""
    with transaction.atomic():
        entry = inventory.entry_locked(entry_id)
        if entry.state not in WaitingListEntry.ACTIVE_STATES:
            return entry
        if entry.confirmed_at is not None:  # an unconfirmed address never asked for news
            enqueue_on_commit(CANCELLED_ENTRY_MAIL_TASK, str(entry.pk))
        if entry.state == State.OFFERED:
            return offer_end(entry, State.CANCELLED)
        entry.state = State.CANCELLED
        entry.save(update_fields=["state", "updated_at"])
    return entry


def entry_cancelled_mail(*, entry_id: UUID | str) -> bool:
    """Tells a waiting-list entry its event was cancelled (the task's work); False
    when the entry did not end that way. A task run twice may send it twice."""
    entry = WaitingListEntry.objects.select_related("ticket").get(pk=entry_id)
    if entry.state != State.CANCELLED:
        return False
    entry_cancelled_message(entry, link=offer_link(entry)).send()
    return True


def cancellation_refund(*, purchase_id: UUID | str) -> TicketPurchase:
    """The refund task's work for one purchase of a cancelled event: refunded
    once whatever happened before (scanned codes included); a refund already
    pending is finished. Raises TransientGatewayError for the task to retry."""
    purchase = TicketPurchase.objects.get(pk=purchase_id)
    if purchase.payment_status != PaymentStatus.REFUND_PENDING:
        purchase = refunds.purchase_refund(
            purchase_id=purchase_id, allow_used=True, reason=REFUND_REASON
        )
    if purchase.payment_status == PaymentStatus.REFUND_PENDING:
        # Begun by an earlier run, or the gateway's answer was lost just now: asked
        # again under the same key (an error now is the task's to retry).
        return refunds.purchase_refund_finish(purchase_id=purchase_id)
    return purchase


def _finish(cancellation_id: int) -> None:
    with transaction.atomic():
        cancellation = EventCancellation.objects.select_for_update().get(pk=cancellation_id)
        if cancellation.status == EventCancellation.Status.DONE:
            return
        cancellation.status = EventCancellation.Status.DONE
        cancellation.finished_at = timezone.now()
        cancellation.save(update_fields=["status", "finished_at"])
        progress = cancellation_progress(cancellation)
        note = f"{progress['done']} refunded, {progress['failed']} refused"
        ticket_log(cancellation.ticket, "event cancellation done", note=note)
    logger.info("cancellation %s: done (%s)", cancellation_id, note)


def cancellations_resume() -> int:
    """The beat's sweep: every running cancellation is moved on again (refunds
    sent again once they stall, charges captured since refunded, done recorded)."""
    running = EventCancellation.objects.filter(status=EventCancellation.Status.RUNNING)
    waited = timedelta(seconds=settings.REQUEUE_AFTER_SECONDS)
    return sweep(
        running,
        label="resume event cancellations",
        order_by="created_at",
        hold=waited,
        handle=lambda pk: cancellation_advance(cancellation_id=pk, stalled_after=waited),
    )


def money(amounts: dict[str, str]) -> str:
    """`{"USD": "80.00"}` as "80.00 USD" (for pages and messages)."""
    return ", ".join(f"{Decimal(v)} {k}" for k, v in sorted(amounts.items())) or "nothing"
