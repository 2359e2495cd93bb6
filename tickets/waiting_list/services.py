"""The waiting list: sold out is not the end.

A buyer who finds a ticket sold out asks to join its line here; the place is
theirs once the link e-mailed to their address confirms it (and they may leave
it). Seats that come back are offered to the line in tickets/waiting_list/offers.py,
whose docstring tells the whole rule. Operators see what the line wants and
may pause the offers.
"""

import logging
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from project.queue import enqueue_on_commit
from project.sweeps import delete_in_batches
from project.tasks import ENTRY_MAIL_TASK
from tickets import inventory
from tickets.audit import ticket_log
from tickets.delivery.emails import entry_message, offer_message
from tickets.errors import (
    SeatsOnSale,
    TicketUnavailable,
    WaitingListCapReached,
)
from tickets.inventory import entry_locked, lock_in_order
from tickets.models import Ticket, WaitingListEntry
from tickets.selectors import tickets_on_sale
from tickets.waiting_list import ENTRY_PAGE_ROUTE, mail_caps
from tickets.waiting_list.offers import offer_end, seats_returned

logger = logging.getLogger(__name__)

State = WaitingListEntry.State


# --- Joining, confirming and leaving ------------------------------------------------------


def waiting_list_join(
    *,
    ticket_id: int,
    customer_name: str,
    customer_email: str,
    quantity: int,
    client_address: str | None = None,
) -> WaitingListEntry:
    """Asks for a place in the ticket's line on behalf of whoever reads
    `customer_email`; answers the entry, which the caller must not show: the
    entry's powers go to the address, by e-mail only. A new entry is
    `unconfirmed` (no place, no offers) until its link confirms it
    (`waiting_list_confirm`). An address with an active entry for the ticket gets
    that entry's link again; nothing new is made.

    Whatever the address's state, a join takes the same path and its caller gets
    the same answer: SeatsOnSale depends on the ticket alone, the caps on the
    client alone (its joins, WaitingListMailsCapped; its seats waited for,
    WaitingListCapReached, counted for every join: a re-join from a client at
    its cap is refused like a new one), and an address past its e-mail cap is
    sent nothing, silently (mail_caps.py)."""
    ticket = tickets_on_sale().filter(pk=ticket_id).only("available_quantity").first()
    if ticket is None:
        raise TicketUnavailable()
    if ticket.available_quantity >= quantity:
        raise SeatsOnSale()
    mail_caps.client_join_count(client_address)
    try:
        with transaction.atomic():
            # Joins of a ticket take turns on its row: the cap's count cannot
            # change between the check and the insert.
            lock_in_order(ticket_id=ticket_id)
            _cap_check(ticket_id, client_address, quantity)
            entry = _active_entry(ticket_id, customer_email)
            if entry is None:
                entry = WaitingListEntry.objects.create(
                    ticket_id=ticket_id,
                    customer_name=customer_name,
                    customer_email=customer_email,
                    quantity=quantity,
                    client_address=client_address or None,
                    state=State.UNCONFIRMED,
                )
                logger.info("waiting list %s: %s joined for %d", ticket_id, entry.pk, quantity)
            elif entry.state == State.UNCONFIRMED:
                # Asked for again: kept WAITING_LIST_CONFIRM_HOURS from now (the purge).
                entry.save(update_fields=["updated_at"])
    except IntegrityError:  # the same e-mail joined at the same moment
        entry = _active_entry(ticket_id, customer_email)
        if entry is None:
            raise
    if mail_caps.address_may_mail(customer_email):
        enqueue_on_commit(ENTRY_MAIL_TASK, str(entry.pk))
    return entry


def _active_entry(ticket_id: int, email: str) -> WaitingListEntry | None:
    return WaitingListEntry.objects.filter(
        ticket_id=ticket_id,
        customer_email__iexact=email,
        state__in=WaitingListEntry.ACTIVE_STATES,
    ).first()


def _cap_check(ticket_id: int, client_address: str | None, quantity: int) -> None:
    """One client address may wait for at most HOLD_CAP_PER_CLIENT seats of a
    ticket, as it may hold no more unpaid: a bot cannot fill the line. Entries
    not confirmed yet count too: they are a click away from the line."""
    if not client_address:
        return
    waiting = WaitingListEntry.objects.filter(
        ticket_id=ticket_id,
        client_address=client_address,
        state__in=WaitingListEntry.ACTIVE_STATES,
    ).aggregate(seats=Sum("quantity"))["seats"]
    if (waiting or 0) + quantity > settings.HOLD_CAP_PER_CLIENT:
        raise WaitingListCapReached()


def waiting_list_confirm(*, entry_id: UUID | str) -> WaitingListEntry:
    """The e-mailed link was opened and confirmed: the entry takes its place in
    line, counted from now (`confirmed_at`), and seats kept for the line may fit
    it at once, as they may any newcomer. An entry confirmed already (or ended)
    is answered as it is. Raises SeatsOnSale while the seats it wants can be
    bought: it stays unconfirmed, and its owner buys instead."""
    with transaction.atomic():
        entry = entry_locked(entry_id)  # after its ticket: the free seats cannot change
        if entry.state != State.UNCONFIRMED:
            return entry
        free = Ticket.objects.values_list("available_quantity", flat=True).get(pk=entry.ticket_id)
        if free >= entry.quantity:
            raise SeatsOnSale()
        entry.state, entry.confirmed_at = State.WAITING, timezone.now()
        entry.save(update_fields=["state", "confirmed_at", "updated_at"])
        seats_returned(ticket_id=entry.ticket_id, seats=0)
    logger.info("waiting list %s: %s confirmed", entry.ticket_id, entry.pk)
    entry.refresh_from_db()  # it may hold an offer already
    return entry


def waiting_list_leave(*, entry_id: UUID | str) -> WaitingListEntry:
    """The buyer leaves the line; an open offer is declined (its seats pass on).
    An unconfirmed entry is dropped the same way: the address's owner did not
    ask for it, or changed their mind."""
    with transaction.atomic():
        entry = entry_locked(entry_id)
        if entry.state == State.OFFERED:
            return offer_end(entry, State.DECLINED)
        if entry.state in (State.UNCONFIRMED, State.WAITING):
            in_line = entry.state == State.WAITING
            entry.state = State.LEFT
            entry.save(update_fields=["state", "updated_at"])
            if in_line:  # seats kept for the line may now fit someone else, or nobody waits
                seats_returned(ticket_id=entry.ticket_id, seats=0)
    return entry


def unconfirmed_entries_purge() -> int:
    """Deletes entries still unconfirmed WAITING_LIST_CONFIRM_HOURS after their
    last join (beat, hourly): they held nothing, and whoever reads the
    address never asked for them, so neither the name nor the address is kept.
    Deleted with the condition checked again row by row, so an entry confirmed
    meanwhile stays."""
    cutoff = timezone.now() - timedelta(hours=settings.WAITING_LIST_CONFIRM_HOURS)
    stale = WaitingListEntry.objects.filter(state=State.UNCONFIRMED, updated_at__lt=cutoff)
    purged = delete_in_batches(stale)
    if purged:
        logger.info("purged %d waiting-list entries never confirmed", purged)
    return purged


# --- E-mails ---------------------------------------------------------------------------


def offer_link(entry: WaitingListEntry) -> str:
    path = ENTRY_PAGE_ROUTE.replace("<uuid:entry_id>", str(entry.pk))
    return f"{settings.SITE_URL}/{path}"


def entry_mail(*, entry_id: UUID | str) -> bool:
    """E-mails the link to an entry (the task's work): to confirm it, or to
    follow it once confirmed; False once the entry has ended."""
    entry = WaitingListEntry.objects.select_related("ticket").get(pk=entry_id)
    if entry.state not in WaitingListEntry.ACTIVE_STATES:
        return False
    entry_message(entry, link=offer_link(entry)).send()
    return True


def offer_mail(*, entry_id: UUID | str) -> bool:
    """E-mails an open offer (the task's work); False when it is no longer open.
    A task run twice may send it twice, never lose it."""
    entry = WaitingListEntry.objects.select_related("ticket").get(pk=entry_id)
    if entry.state != State.OFFERED:
        return False
    offer_message(entry, link=offer_link(entry)).send()
    return True


# --- What operators see ------------------------------------------------------------------


def seats_wanted():
    """The seats a ticket's waiting entries ask for, as an expression to annotate
    tickets with (a page of them in one query)."""
    wanted = (
        WaitingListEntry.objects.filter(ticket=OuterRef("pk"), state=State.WAITING)
        .order_by()
        .values("ticket")
        .annotate(seats=Sum("quantity"))
        .values("seats")
    )
    return Coalesce(Subquery(wanted), 0)


def capacity_wanted(ticket: Ticket) -> tuple[int, Decimal]:
    """Seats the waiting entries ask for, and what selling them would bring."""
    seats = Ticket.objects.filter(pk=ticket.pk).values_list(seats_wanted(), flat=True).get()
    return seats, ticket.price * seats


def ticket_pause_offers(*, ticket_id: int, paused: bool) -> None:
    """Stops (or restarts) automatic offers. Paused, freed seats go on sale, and
    so do the seats kept for the line; open offers run their course."""
    with transaction.atomic():
        changed = Ticket.objects.filter(pk=ticket_id, waiting_list_paused=not paused).update(
            waiting_list_paused=paused
        )
        if not changed:
            return  # already so: nothing to do, nothing to record
        if paused:
            inventory.seats_kept_to_sale(ticket_id=ticket_id)
        ticket = Ticket.objects.get(pk=ticket_id)
        ticket_log(ticket, "waiting list paused" if paused else "waiting list resumed")
