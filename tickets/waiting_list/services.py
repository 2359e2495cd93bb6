"""The waiting list: sold out is not the end.

A buyer who finds a ticket sold out joins its line here (and leaves it);
seats that come back are offered to the line in tickets/waiting_list/offers.py,
whose docstring tells the whole rule. Operators see what the line wants and
may pause the offers.
"""

import logging
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from project.queue import enqueue_on_commit
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
from tickets.waiting_list import ENTRY_PAGE_ROUTE
from tickets.waiting_list.offers import offer_end, seats_returned

logger = logging.getLogger(__name__)

State = WaitingListEntry.State


# --- Joining and leaving ----------------------------------------------------------------


def waiting_list_join(
    *,
    ticket_id: int,
    customer_name: str,
    customer_email: str,
    quantity: int,
    client_address: str | None = None,
) -> tuple[WaitingListEntry, bool]:
    """Puts a buyer who cannot buy what they want in the ticket's line; answers
    the entry and whether it is new (the same e-mail joins a ticket's line once:
    a second join answers the first). Either way the link to the entry (its
    secret) is e-mailed to the address, so only its owner can act on it. Raises
    SeatsOnSale while the seats wanted can still be bought."""
    ticket = tickets_on_sale().filter(pk=ticket_id).only("available_quantity").first()
    if ticket is None:
        raise TicketUnavailable()
    existing = _active_entry(ticket_id, customer_email)
    if existing is not None:
        enqueue_on_commit(ENTRY_MAIL_TASK, str(existing.pk))
        return existing, False
    if ticket.available_quantity >= quantity:
        raise SeatsOnSale()
    try:
        with transaction.atomic():
            # The ticket first (seats_returned below), and joins take turns on it:
            # the cap's count cannot change between the check and the insert.
            lock_in_order(ticket_id=ticket_id)
            _cap_check(ticket_id, client_address, quantity)
            entry = WaitingListEntry.objects.create(
                ticket_id=ticket_id,
                customer_name=customer_name,
                customer_email=customer_email,
                quantity=quantity,
                client_address=client_address or None,
            )
            # Seats kept for the line (read under the ticket's lock) may fit the newcomer.
            seats_returned(ticket_id=ticket_id, seats=0)
            enqueue_on_commit(ENTRY_MAIL_TASK, str(entry.pk))
    except IntegrityError:  # the same e-mail joined at the same moment
        existing = _active_entry(ticket_id, customer_email)
        if existing is None:
            raise
        enqueue_on_commit(ENTRY_MAIL_TASK, str(existing.pk))
        return existing, False
    logger.info("waiting list %s: %s joined for %d", ticket_id, entry.pk, quantity)
    return entry, True


def _active_entry(ticket_id: int, email: str) -> WaitingListEntry | None:
    return WaitingListEntry.objects.filter(
        ticket_id=ticket_id,
        customer_email__iexact=email,
        state__in=WaitingListEntry.ACTIVE_STATES,
    ).first()


def _cap_check(ticket_id: int, client_address: str | None, quantity: int) -> None:
    """One client address may wait for at most HOLD_CAP_PER_CLIENT seats of a
    ticket, as it may hold no more unpaid: a bot cannot fill the line."""
    if not client_address:
        return
    waiting = WaitingListEntry.objects.filter(
        ticket_id=ticket_id,
        client_address=client_address,
        state__in=WaitingListEntry.ACTIVE_STATES,
    ).aggregate(seats=Sum("quantity"))["seats"]
    if (waiting or 0) + quantity > settings.HOLD_CAP_PER_CLIENT:
        raise WaitingListCapReached()


def waiting_list_leave(*, entry_id: UUID | str) -> WaitingListEntry:
    """The buyer leaves the line; an open offer is declined (its seats pass on)."""
    with transaction.atomic():
        entry = entry_locked(entry_id)
        if entry.state == State.OFFERED:
            return offer_end(entry, State.DECLINED)
        if entry.state == State.WAITING:
            entry.state = State.LEFT
            entry.save(update_fields=["state", "updated_at"])
            # Seats kept for the line may now fit someone else, or nobody waits.
            seats_returned(ticket_id=entry.ticket_id, seats=0)
    return entry


# --- E-mails ---------------------------------------------------------------------------


def offer_link(entry: WaitingListEntry) -> str:
    path = ENTRY_PAGE_ROUTE.replace("<uuid:entry_id>", str(entry.pk))
    return f"{settings.SITE_URL}/{path}"


def entry_mail(*, entry_id: UUID | str) -> bool:
    """E-mails the link to a place on the list (the task's work); False once the
    entry no longer waits or holds an offer."""
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
