"""Seats kept for the line never sit idle, a buyer who cannot buy what they want
can always wait for it, and one client cannot fill the line."""

import pytest
from django.db import connection

from tests.at_once import at_once
from tests.factories import PurchaseFactory, TicketFactory, wait_in_line
from tests.inventory import assert_inventory_adds_up
from tickets.errors import SeatsOnSale, WaitingListCapReached
from tickets.models import Ticket, TicketPurchase, WaitingListEntry
from tickets.sale.purchases import purchase_cancel, purchase_reserve
from tickets.waiting_list.offers import offer_by_hand
from tickets.waiting_list.services import (
    ticket_pause_offers,
    waiting_list_join,
    waiting_list_leave,
)

pytestmark = pytest.mark.django_db


def held_out(total: int, holds: int) -> tuple[Ticket, list[TicketPurchase]]:
    ticket = TicketFactory(total_quantity=total)
    purchases = [
        purchase_reserve(
            purchase_id=PurchaseFactory(
                ticket=ticket, quantity=1, payment_token="", customer_email=f"h{n}@x.io"
            ).pk
        )
        for n in range(holds)
    ]
    return ticket, purchases


def join(ticket, email: str, quantity: int) -> WaitingListEntry:
    return wait_in_line(ticket, email, quantity, name="W")


def seats(ticket) -> tuple[int, int]:
    ticket.refresh_from_db()
    return ticket.available_quantity, ticket.list_held_quantity


def test_an_offer_by_hand_to_the_last_in_line_puts_the_kept_seats_back_on_sale():
    ticket, holds = held_out(total=5, holds=5)
    first = join(ticket, "a@x.io", quantity=2)
    second = join(ticket, "b@x.io", quantity=3)
    ticket_pause_offers(ticket_id=ticket.pk, paused=True)
    for hold in holds[:2]:
        purchase_cancel(purchase_id=hold.pk)  # paused: on sale
    ticket_pause_offers(ticket_id=ticket.pk, paused=False)
    purchase_cancel(purchase_id=holds[2].pk)  # fits nobody: kept for the line
    waiting_list_leave(entry_id=second.pk)
    assert seats(ticket) == (2, 1)

    offer_by_hand(entry_id=first.pk)  # nobody waits any more

    assert seats(ticket) == (1, 0)
    assert_inventory_adds_up(ticket)


def test_a_buyer_who_cannot_buy_what_they_want_may_wait_for_it():
    ticket, _ = held_out(total=3, holds=2)  # one seat free
    entry = join(ticket, "two@x.io", quantity=2)
    assert entry.state == WaitingListEntry.State.WAITING
    with pytest.raises(SeatsOnSale):
        join(ticket, "one@x.io", quantity=1)  # one seat can be bought now
    assert_inventory_adds_up(ticket)


@pytest.mark.django_db(transaction=True)
def test_parallel_joins_from_one_client_stay_within_its_cap(settings):
    """Ten joins at once from one address against a cap of three seats: the cap
    is checked under the ticket's lock, so no more than three wait."""
    if connection.vendor != "postgresql":
        pytest.skip("parallel joins need a database that serves many connections")
    settings.HOLD_CAP_PER_CLIENT = 3
    ticket, _ = held_out(total=2, holds=2)

    def join_from_one_client(n: int):
        return waiting_list_join(
            ticket_id=ticket.pk,
            customer_name="Bot",
            customer_email=f"bot{n}@x.io",
            quantity=1,
            client_address="203.0.113.66",
        )

    refused = [r for r in at_once(join_from_one_client) if isinstance(r, WaitingListCapReached)]

    assert WaitingListEntry.objects.filter(client_address="203.0.113.66").count() == 3
    assert len(refused) == 7
