"""The waiting list: sold out is not the end.

A buyer who finds a ticket sold out joins its list. Whenever seats come back
(an unpaid hold expires, a buyer cancels, a payment fails after the seats were
taken, a refund, capacity added, an offer lapsed or declined), the service
that gives them back calls `seats_returned` in its own transaction, which
hands them to the oldest waiting entries that fit, as offers: the seats stay
held for the entry (the ticket's `offered_quantity`) until
WAITING_LIST_OFFER_SECONDS have passed, and an e-mail carries the link that
buys them. Only what no entry can take goes back on sale. Every change of a
ticket's counters is one conditional UPDATE of the row, under the same row
lock every other seat change takes, so a seat is never offered twice nor
offered and sold at once; check constraints keep
free + offered + unpaid holds within the seats.

Taking an offer creates the purchase already holding the offered seats (no
second reservation, no race with open buyers). An offer not taken in time
lapses (a beat sweep with the one claim rule), and its seats pass on by the
same rule.
"""

import logging
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from project import log_context
from project.queue import enqueue_on_commit
from project.sweeps import sweep
from project.tasks import OFFER_MAIL_TASK, PROCESS_TASK
from tickets import inventory, selectors
from tickets.audit import purchase_log, ticket_log
from tickets.errors import (
    InventoryInvariantBroken,
    NotEnoughFreeSeats,
    OfferNotOpen,
)
from tickets.inventory import entry_locked
from tickets.metrics import count_accepted
from tickets.models import Ticket, TicketPurchase, WaitingListEntry
from tickets.sale.doorbell import batch_ring_on_commit

logger = logging.getLogger(__name__)

State = WaitingListEntry.State


def offer_decline(*, entry_id: UUID | str) -> WaitingListEntry:
    with transaction.atomic():
        entry = entry_locked(entry_id)
        if entry.state == State.DECLINED:
            return entry
        if entry.state != State.OFFERED:
            raise OfferNotOpen()
        return offer_end(entry, State.DECLINED)


def seats_returned(
    *, ticket_id: int, seats: int, from_offers: int = 0, unpaid: int = 0
) -> list[WaitingListEntry]:
    """Gives `seats` of the ticket back, inside the caller's transaction. First
    to purchases already accepted and waiting for seats (they go on sale, and
    the batch that seats those purchases, oldest first, is rung); then, with
    people on the waiting list, they and any seats already kept for the list go
    to the oldest waiting entries that fit, as offers; what fits nobody yet
    stays kept for the list (`list_held_quantity`). Seats go on sale only when
    nobody waits (or offers are paused). `from_offers` of the seats were
    offered (a lapsed or declined offer), `unpaid` held by an unpaid hold.
    Answers the entries offered seats."""
    # The ticket row first: every seat change of this ticket waits here, so the
    # line read below cannot change under us and no seat is handed out twice.
    paused, kept = inventory.ticket_lines_locked(ticket_id)
    if not seats and not kept:
        return []
    to_buyers = selectors.seats_wanted_in_line(ticket_id=ticket_id, up_to=seats)
    if to_buyers:
        batch_ring_on_commit(ticket_id)
    if paused:  # returned seats go on sale; what is kept waits for an operator
        offered, pool, keep = [], 0, kept
    else:
        pool = seats - to_buyers + kept
        offered = _entries_that_fit(ticket_id, pool) if pool else []
        pool -= sum(entry.quantity for entry in offered)
        still_waiting = pool and _anyone_waiting(ticket_id, besides=offered)
        keep = pool if still_waiting else 0
        pool -= keep
    to_offers = sum(entry.quantity for entry in offered)
    inventory.seats_move(
        ticket_id,
        to_sale=seats - to_offers - (keep - kept) if not paused else seats,
        to_offers=to_offers - from_offers,
        to_line=keep - kept,
        unpaid=unpaid,
        returned=seats,
    )
    if offered:
        _mark_offered(offered, now=timezone.now())
    return offered


def _anyone_waiting(ticket_id: int, *, besides: list[WaitingListEntry]) -> bool:
    return (
        WaitingListEntry.objects.filter(ticket_id=ticket_id, state=State.WAITING)
        .exclude(pk__in=[entry.pk for entry in besides])
        .exists()
    )


def _entries_that_fit(ticket_id: int, seats: int) -> list[WaitingListEntry]:
    """The oldest waiting entries whose quantities fit in `seats`, in line
    order (an entry asking for more than is left is passed over, not split)."""
    chosen: list[WaitingListEntry] = []
    left = seats
    skipped: set = set()
    while left > 0:
        candidates = list(
            WaitingListEntry.objects.select_for_update()
            .filter(ticket_id=ticket_id, state=State.WAITING, quantity__lte=left)
            .exclude(pk__in=[entry.pk for entry in chosen] + list(skipped))
            .order_by("confirmed_at")[:left]
        )
        if not candidates:
            break
        for entry in candidates:
            if entry.quantity <= left:
                chosen.append(entry)
                left -= entry.quantity
            else:
                skipped.add(entry.pk)
    return chosen


def _mark_offered(entries: list[WaitingListEntry], *, now) -> None:
    expires = now + timedelta(seconds=settings.WAITING_LIST_OFFER_SECONDS)
    WaitingListEntry.objects.filter(pk__in=[entry.pk for entry in entries]).update(
        state=State.OFFERED, offered_at=now, offer_expires_at=expires, updated_at=now
    )
    for entry in entries:
        entry.state, entry.offered_at, entry.offer_expires_at = State.OFFERED, now, expires
        enqueue_on_commit(OFFER_MAIL_TASK, str(entry.pk))
        logger.info(
            "waiting list %s: %d seat(s) offered to %s", entry.ticket_id, entry.quantity, entry.pk
        )


def offer_by_hand(*, entry_id: UUID | str) -> WaitingListEntry:
    """An operator offers free seats to a waiting entry out of turn (e.g. after
    adding capacity while offers are paused)."""
    with transaction.atomic():
        entry = entry_locked(entry_id)
        if entry.state != State.WAITING:
            raise OfferNotOpen("only a waiting entry can be made an offer")
        if not inventory.seats_offer_from_sale(ticket_id=entry.ticket_id, quantity=entry.quantity):
            raise NotEnoughFreeSeats(f"fewer than {entry.quantity} seats are free to offer")
        _mark_offered([entry], now=timezone.now())
        # The entry left the line: seats kept for it go to whoever still waits,
        # or back on sale when nobody does.
        seats_returned(ticket_id=entry.ticket_id, seats=0)
        ticket_log(
            Ticket.objects.get(pk=entry.ticket_id),
            "waiting-list offer by hand",
            note=f"{entry.quantity} seat(s) to entry {entry.pk}",
        )
    return entry


def offer_take(
    *,
    entry_id: UUID | str,
    payment_method: str = TicketPurchase.PaymentMethod.CARD,
    payment_token: str = "",
    customer_phone: str = "",
) -> TicketPurchase:
    """Buys the offered seats: the purchase is created holding them (they move
    from offered to held; no second reservation) and, with a payment token, is
    charged by a worker; without one it waits for `complete/` until the offer's
    end. Taking a taken offer answers its purchase again."""
    with transaction.atomic():
        entry = entry_locked(entry_id)
        if entry.state == State.TAKEN and entry.purchase_id:
            return entry.purchase
        now = timezone.now()
        if not entry.offer_open(now):
            raise OfferNotOpen()
        if not inventory.seats_offer_taken(ticket_id=entry.ticket_id, quantity=entry.quantity):
            raise InventoryInvariantBroken(f"offer {entry.pk}: its seats are not offered")
        purchase = _purchase_holding_offer(entry, payment_method, payment_token, customer_phone)
        entry.state, entry.purchase = State.TAKEN, purchase
        entry.save(update_fields=["state", "purchase", "updated_at"])
        if payment_token:
            enqueue_on_commit(PROCESS_TASK, str(purchase.pk))
    with log_context.bind_purchase(purchase):
        logger.info("waiting list %s: offer %s taken by %s", entry.ticket_id, entry.pk, purchase.pk)
    return purchase


def offer_reopen(purchase: TicketPurchase) -> bool:
    """A purchase made through an offer was declined while the offer still runs:
    its seats go back to that offer (held -> offered) and the entry may buy
    again with another card. Inside the caller's transaction, the purchase
    locked; False when there is no such offer (the seats are then released by
    the usual rule)."""
    entry = (
        WaitingListEntry.objects.filter(purchase=purchase, state=State.TAKEN)
        .values_list("pk", flat=True)
        .first()
    )
    if entry is None:
        return False
    entry = entry_locked(entry)
    if entry.state != State.TAKEN or entry.offer_expires_at <= timezone.now():
        return False
    inventory.seats_move(
        entry.ticket_id,
        to_sale=0,
        to_offers=purchase.quantity,
        to_line=0,
        unpaid=purchase.quantity if purchase.holds_unpaid else 0,
        returned=purchase.quantity,
    )
    # The declined purchase stays linked (its page leads back to the offer)
    # until the entry buys again.
    entry.state = State.OFFERED
    entry.save(update_fields=["state", "updated_at"])
    logger.info("waiting list %s: offer %s open again after a decline", entry.ticket_id, entry.pk)
    return True


def _purchase_holding_offer(entry, payment_method, payment_token, phone) -> TicketPurchase:
    ticket = Ticket.objects.only("price", "currency").get(pk=entry.ticket_id)
    now = timezone.now()
    hold = settings.PURCHASE_HOLD_SECONDS if payment_token else 0
    purchase = TicketPurchase.objects.create(
        ticket_id=entry.ticket_id,
        customer_name=entry.customer_name,
        customer_email=entry.customer_email,
        customer_phone=phone,
        quantity=entry.quantity,
        unit_price=ticket.price,
        total_amount=ticket.price * entry.quantity,
        currency=ticket.currency,
        payment_method=payment_method,
        payment_token=payment_token,
        inventory_reserved=True,
        processing_started_at=now,
        hold_expires_at=max(entry.offer_expires_at, now + timedelta(seconds=hold)),
        client_address=entry.client_address,
        request_id=log_context.request_id(),
    )
    purchase_log(purchase, "created", note=f"from waiting-list offer {entry.pk}")
    count_accepted()
    return purchase


def offer_end(entry: WaitingListEntry, state: str) -> WaitingListEntry:
    """A locked open offer ends unbought: its seats pass on by the same rule."""
    entry.state = state
    entry.save(update_fields=["state", "updated_at"])
    passed = seats_returned(
        ticket_id=entry.ticket_id, seats=entry.quantity, from_offers=entry.quantity
    )
    logger.info(
        "waiting list %s: offer %s %s; its seats passed to %d entr(ies)",
        entry.ticket_id,
        entry.pk,
        state,
        len(passed),
    )
    return entry


def offer_lapse(*, entry_id: UUID | str, now=None) -> WaitingListEntry:
    with transaction.atomic():
        entry = entry_locked(entry_id)
        if entry.state != State.OFFERED or entry.offer_expires_at > (now or timezone.now()):
            return entry
        return offer_end(entry, State.LAPSED)


def offers_lapse_due(*, now=None, batch_size: int = 200) -> int:
    """The beat's sweep: every offer past its end lapses, each in its own
    transaction (the one claim rule, project/sweeps.py)."""
    now = now or timezone.now()
    due = WaitingListEntry.objects.filter(state=State.OFFERED, offer_expires_at__lte=now)
    return sweep(
        due,
        label="lapse waiting-list offers",
        order_by="offer_expires_at",
        hold=timedelta(seconds=settings.SWEEP_INTERVAL_SECONDS),
        handle=lambda pk: offer_lapse(entry_id=pk, now=now),
        batch_size=batch_size,
    )
