"""Offers taken, lapsing, declined and new seats freed all at once: the
waiting list never oversells and never offers a seat twice.

Thirty seats are held by unpaid holds and forty entries wait. Threads of this
process cancel holds (seats come back), take offers through the API (a real
worker charges them), decline offers, make offers lapse (the real worker runs
the lapse sweep), join and leave the line; an auditor reads the books in one
snapshot again and again meanwhile. In every snapshot the ticket's counters
match its purchases and its open offers; at the end, every seat is accounted for.
"""

import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from project.errors import DomainError
from tests.factories import PurchaseFactory, TicketFactory, wait_in_line
from tests.inventory import assert_inventory_adds_up
from tests.waiting import wait_for
from tickets.models import Ticket, TicketPurchase, WaitingListEntry
from tickets.sale.purchases import purchase_cancel, purchase_reserve
from tickets.waiting_list.offers import offer_decline
from tickets.waiting_list.services import waiting_list_leave
from workers.celery import app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SEATS = 30
ENTRIES = 40
SECONDS = 6
Status = TicketPurchase.Status
State = WaitingListEntry.State


def books(ticket_id: int) -> tuple:
    """The ticket's counters and what its purchases and offers say, in one snapshot."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        ticket = Ticket.objects.get(pk=ticket_id)
        purchases = TicketPurchase.objects.filter(ticket_id=ticket_id)
        seats = lambda queryset: queryset.aggregate(n=Sum("quantity"))["n"] or 0  # noqa: E731
        held = seats(purchases.filter(status=Status.PENDING, inventory_reserved=True))
        sold = seats(purchases.filter(status__in=[Status.CONFIRMED, Status.COMPLETED]))
        offered = seats(WaitingListEntry.objects.filter(ticket_id=ticket_id, state=State.OFFERED))
    return ticket, held, sold, offered


class Crowd:
    """Threads that each repeat one kind of move until told to stop; a move
    refused by the rules (an offer already gone, ...) is part of the game, any
    other error is a failure."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.moves: dict[str, int] = {}
        self.threads: list[threading.Thread] = []

    def run(self, name: str, move) -> None:
        def loop() -> None:
            try:
                while not self.stop.is_set():
                    try:
                        if move():
                            self.moves[name] = self.moves.get(name, 0) + 1
                    except DomainError:
                        pass
                    except Exception as exc:
                        self.errors.append(f"{name}: {exc!r}")
                    time.sleep(random.uniform(0.005, 0.03))
            finally:
                connection.close()

        thread = threading.Thread(target=loop, name=name)
        self.threads.append(thread)
        thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def pick(queryset):
    ids = list(queryset.values_list("pk", flat=True)[:20])
    return random.choice(ids) if ids else None


@pytest.fixture
def workers(start_worker):
    return [
        start_worker("wl-a", concurrency=2),
        start_worker("wl-b", concurrency=2, purge=False),
    ]


def test_offers_taken_lapsing_and_seats_freed_at_once_never_oversell(workers):
    ticket = TicketFactory(total_quantity=SEATS)
    holds = [
        PurchaseFactory(ticket=ticket, quantity=1, payment_token="", customer_email=f"h{n}@x.io")
        for n in range(SEATS)
    ]
    for hold in holds:
        purchase_reserve(purchase_id=hold.pk)
    for n in range(ENTRIES):
        wait_in_line(ticket, f"wait{n}@example.com", 1 + n % 2)
    entries = WaitingListEntry.objects.filter(ticket=ticket)
    offered = entries.filter(state=State.OFFERED)
    held = TicketPurchase.objects.filter(
        ticket=ticket, status=Status.PENDING, inventory_reserved=True, payment_token=""
    )
    client = APIClient()
    snapshots: list[tuple] = []

    def free_a_seat() -> bool:
        hold = pick(held.filter(pk__in=[h.pk for h in holds]))
        return hold is not None and bool(purchase_cancel(purchase_id=hold))

    def take_an_offer() -> bool:
        entry = pick(offered)
        if entry is None:
            return False
        response = client.post(
            f"/api/tickets/waiting-list/{entry}/purchase/",
            {"payment_token": "tok_success"},
            format="json",
        )
        return response.status_code == 202

    def decline_an_offer() -> bool:
        entry = pick(offered)
        return entry is not None and bool(offer_decline(entry_id=entry))

    def let_offers_lapse() -> bool:
        entry = pick(offered)
        if entry is None:
            return False
        WaitingListEntry.objects.filter(pk=entry).update(
            offer_expires_at=timezone.now() - timedelta(seconds=1)
        )
        app.send_task("tickets.lapse_waiting_list_offers", queue="sweeps").get(timeout=30)
        return True

    def join_or_leave() -> bool:
        if random.random() < 0.5:
            n = random.randrange(10**6)  # joins and confirms at once: seats kept may go to it
            wait_in_line(ticket, f"late{n}@example.com", 1 + n % 2, name="Late")
            return True
        entry = pick(entries.filter(state=State.WAITING))
        return entry is not None and bool(waiting_list_leave(entry_id=entry))

    def audit() -> bool:
        snapshots.append(books(ticket.pk))
        return True

    crowd = Crowd()
    for name, move in [
        ("free", free_a_seat),
        ("take-1", take_an_offer),
        ("take-2", take_an_offer),
        ("decline", decline_an_offer),
        ("lapse", let_offers_lapse),
        ("join-or-leave", join_or_leave),
        ("audit", audit),
    ]:
        crowd.run(name, move)
    time.sleep(SECONDS)
    crowd.finish()

    assert crowd.errors == [], crowd.moves
    assert {"free", "take-1", "decline", "lapse", "join-or-leave"} <= set(crowd.moves), crowd.moves
    assert len(snapshots) > 20
    for ticket_then, held_then, sold_then, offered_then in snapshots:
        taken = ticket_then.total_quantity - ticket_then.available_quantity
        assert taken == held_then + sold_then + ticket_then.offered_quantity + (
            ticket_then.list_held_quantity
        )
        assert ticket_then.offered_quantity == offered_then  # no seat offered twice
        assert sold_then <= ticket_then.total_quantity

    # The worker charges what was taken; then the books close.
    wait_for(
        lambda: not TicketPurchase.objects.filter(
            ticket=ticket, status=Status.PENDING, payment_token="tok_success"
        ).exists(),
        timeout=60,
    )
    assert_inventory_adds_up(ticket)
    sold = TicketPurchase.objects.filter(
        ticket=ticket, status__in=[Status.CONFIRMED, Status.COMPLETED]
    )
    assert sold.exists() and sum(p.quantity for p in sold) <= SEATS
    for purchase in sold:
        assert purchase.codes.count() == purchase.quantity
