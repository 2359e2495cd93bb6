"""tickets/inventory.py owns every change of a ticket's seat counters. Each
movement, driven through the service that makes it, leaves the inventory
equation true (tests/inventory.py); and no other module writes a counter."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from tests.factories import PurchaseFactory, TicketFactory, wait_in_line
from tests.inventory import assert_inventory_adds_up
from tickets import inventory
from tickets.errors import CapacityRefused
from tickets.models import Ticket, TicketPurchase, WaitingListEntry
from tickets.refunds.services import purchase_refund
from tickets.sale.payment import purchase_fail, purchase_process, ticket_process_batches
from tickets.sale.purchases import purchase_cancel, purchase_reserve, purchases_expire_due
from tickets.seats import ticket_change_capacity
from tickets.seed import seed_tickets
from tickets.waiting_list.offers import offer_by_hand, offer_decline, offer_take, offers_lapse_due
from tickets.waiting_list.services import ticket_pause_offers

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
Status = TicketPurchase.Status
State = WaitingListEntry.State


def counters(ticket) -> dict:
    ticket = Ticket.objects.get(pk=ticket.pk)
    return {
        "total": ticket.total_quantity,
        "free": ticket.available_quantity,
        "unpaid": ticket.unpaid_held_quantity,
        "offered": ticket.offered_quantity,
        "kept": ticket.list_held_quantity,
    }


def hold(ticket, quantity: int = 1, *, paid: bool = False, email: str = "") -> TicketPurchase:
    purchase = PurchaseFactory(
        ticket=ticket,
        quantity=quantity,
        payment_token="tok_success" if paid else "",
        customer_email=email or f"h{TicketPurchase.objects.count()}@x.io",
    )
    return purchase_reserve(purchase_id=purchase.pk)


def sold_out_with_a_line(seats: int = 2, waiting: int = 1) -> tuple[Ticket, list]:
    ticket = TicketFactory(total_quantity=seats)
    holds = [hold(ticket) for _ in range(seats)]
    for n in range(waiting):
        wait_in_line(ticket, f"w{n}@x.io", 1, name="W")
    return ticket, holds


def test_a_new_ticket_has_every_seat_on_sale():
    seed_tickets()
    for ticket in Ticket.objects.all():
        assert counters(ticket)["free"] == counters(ticket)["total"] > 0
        assert_inventory_adds_up(ticket)


def test_seats_taken_alone_paid_and_unpaid():
    ticket = TicketFactory(total_quantity=5)
    hold(ticket, 2, paid=True)
    hold(ticket, 1)
    assert counters(ticket) == {"total": 5, "free": 2, "unpaid": 1, "offered": 0, "kept": 0}
    assert_inventory_adds_up(ticket)


def test_seats_taken_by_a_batch():
    ticket = TicketFactory(total_quantity=4)
    for n in range(3):
        PurchaseFactory(ticket=ticket, quantity=1, customer_email=f"b{n}@x.io")
    PurchaseFactory(ticket=ticket, quantity=1, payment_token="", customer_email="u@x.io")
    assert ticket_process_batches(ticket_id=ticket.pk) == 4
    assert counters(ticket)["free"] == 0 and counters(ticket)["unpaid"] == 1
    assert_inventory_adds_up(ticket)


def test_an_unpaid_hold_paid_for_is_no_longer_counted_unpaid():
    ticket = TicketFactory(total_quantity=3)
    purchase = hold(ticket, 2)
    TicketPurchase.objects.filter(pk=purchase.pk).update(payment_token="tok_success")
    purchase_process(purchase_id=purchase.pk)
    assert TicketPurchase.objects.get(pk=purchase.pk).status == Status.CONFIRMED
    assert counters(ticket) == {"total": 3, "free": 1, "unpaid": 0, "offered": 0, "kept": 0}
    assert_inventory_adds_up(ticket)


@pytest.mark.parametrize("end", ["cancel", "expire", "fail"])
def test_seats_come_back_on_sale_when_nobody_waits(end):
    ticket = TicketFactory(total_quantity=3)
    purchase = hold(ticket, 2)
    if end == "cancel":
        purchase_cancel(purchase_id=purchase.pk)
    elif end == "expire":
        with time_machine.travel(timezone.now() + timedelta(hours=1)):
            assert purchases_expire_due() == 1
    else:
        purchase_fail(purchase_id=purchase.pk, reason="payment_declined")
    assert counters(ticket) == {"total": 3, "free": 3, "unpaid": 0, "offered": 0, "kept": 0}
    assert_inventory_adds_up(ticket)


def test_seats_coming_back_are_offered_to_the_line_and_kept_when_they_fit_nobody():
    ticket, holds = sold_out_with_a_line(seats=3, waiting=0)
    wait_in_line(ticket, "a@x.io", 1, name="W")
    wait_in_line(ticket, "b@x.io", 2, name="W")
    purchase_cancel(purchase_id=holds[0].pk)  # 1 seat: offered to the first in line
    assert counters(ticket)["offered"] == 1
    purchase_cancel(purchase_id=holds[1].pk)  # 1 seat: the next wants 2, kept for the line
    assert counters(ticket)["kept"] == 1 and counters(ticket)["free"] == 0
    assert_inventory_adds_up(ticket)


def test_an_offer_lapsed_or_declined_passes_its_seats_on():
    ticket, holds = sold_out_with_a_line(seats=2, waiting=2)
    purchase_cancel(purchase_id=holds[0].pk)
    first = WaitingListEntry.objects.get(customer_email="w0@x.io")
    offer_decline(entry_id=first.pk)
    second = WaitingListEntry.objects.get(customer_email="w1@x.io")
    assert second.state == State.OFFERED and counters(ticket)["offered"] == 1
    assert_inventory_adds_up(ticket)
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        assert offers_lapse_due() == 1
    assert counters(ticket) == {"total": 2, "free": 1, "unpaid": 1, "offered": 0, "kept": 0}
    assert_inventory_adds_up(ticket)


def test_an_offer_taken_moves_its_seats_from_offered_to_held():
    ticket, holds = sold_out_with_a_line(seats=1, waiting=1)
    purchase_cancel(purchase_id=holds[0].pk)
    entry = WaitingListEntry.objects.get()
    purchase = offer_take(entry_id=entry.pk)
    assert purchase.inventory_reserved and counters(ticket)["offered"] == 0
    assert_inventory_adds_up(ticket)


def test_a_declined_card_on_an_offer_gives_the_seats_back_to_that_offer():
    ticket, holds = sold_out_with_a_line(seats=1, waiting=1)
    purchase_cancel(purchase_id=holds[0].pk)
    purchase = offer_take(entry_id=WaitingListEntry.objects.get().pk, payment_token="tok_decline")
    purchase_fail(purchase_id=purchase.pk, reason="payment_declined")
    assert WaitingListEntry.objects.get().state == State.OFFERED
    assert counters(ticket)["offered"] == 1 and counters(ticket)["free"] == 0
    assert_inventory_adds_up(ticket)


def test_an_offer_by_hand_takes_free_seats():
    ticket, holds = sold_out_with_a_line(seats=2, waiting=1)
    ticket_pause_offers(ticket_id=ticket.pk, paused=True)
    purchase_cancel(purchase_id=holds[0].pk)  # paused: on sale, not offered
    assert counters(ticket)["free"] == 1
    offer_by_hand(entry_id=WaitingListEntry.objects.get().pk)
    assert counters(ticket)["free"] == 0 and counters(ticket)["offered"] == 1
    assert_inventory_adds_up(ticket)


def test_pausing_offers_puts_the_kept_seats_on_sale():
    ticket, holds = sold_out_with_a_line(seats=2, waiting=0)
    wait_in_line(ticket, "a@x.io", 2, name="W")
    purchase_cancel(purchase_id=holds[0].pk)
    assert counters(ticket)["kept"] == 1
    ticket_pause_offers(ticket_id=ticket.pk, paused=True)
    assert counters(ticket)["kept"] == 0 and counters(ticket)["free"] == 1
    assert_inventory_adds_up(ticket)


def test_capacity_added_goes_to_the_line_first_and_removed_only_from_free_seats():
    ticket, _ = sold_out_with_a_line(seats=2, waiting=1)
    ticket_change_capacity(ticket_id=ticket.pk, delta=3)
    assert counters(ticket) == {"total": 5, "free": 2, "unpaid": 2, "offered": 1, "kept": 0}
    assert_inventory_adds_up(ticket)
    ticket_change_capacity(ticket_id=ticket.pk, delta=-2)
    with pytest.raises(CapacityRefused):
        ticket_change_capacity(ticket_id=ticket.pk, delta=-1)
    assert counters(ticket) == {"total": 3, "free": 0, "unpaid": 2, "offered": 1, "kept": 0}
    assert_inventory_adds_up(ticket)


def test_a_refund_brings_the_seats_back():
    ticket = TicketFactory(total_quantity=2)
    purchase = PurchaseFactory(ticket=ticket, quantity=2)
    purchase_process(purchase_id=purchase.pk)
    assert counters(ticket)["free"] == 0
    purchase_refund(purchase_id=purchase.pk)
    assert counters(ticket)["free"] == 2
    assert_inventory_adds_up(ticket)


def test_the_locks_are_taken_in_the_one_order():
    ticket, holds = sold_out_with_a_line(seats=1, waiting=1)
    entry = WaitingListEntry.objects.get()
    with transaction.atomic():
        locked = inventory.lock_in_order(
            purchase_id=holds[0].pk, ticket_id=ticket.pk, entry_id=entry.pk
        )
    assert locked.purchase.pk == holds[0].pk and locked.entry.pk == entry.pk


# Writes a counter: an UPDATE's or create's keyword, or an assignment to the field
# (models.py declares the fields; inventory.py is the one writer).
COUNTER_WRITE = re.compile(
    r"\b(?:available|unpaid_held|offered|list_held)_quantity\s*=(?!=)"
    r"|\btotal_quantity\s*=\s*F\("
)


def test_no_module_but_inventory_writes_a_seat_counter():
    writers = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("tickets", "storefront", "payments", "workers", "devtools")
        for path in (ROOT / package).rglob("*.py")
        if path.name not in ("inventory.py", "models.py") and "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if COUNTER_WRITE.search(line)
    ]
    assert writers == []
