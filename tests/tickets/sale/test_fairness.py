"""Fair order behind declined charges (issue 21, item 1): a purchase that finds
no free seat while seats in flight could still come back waits in line, is
sold out only when none can, and seats that come back go first to purchases
waiting in line, then to the waiting list, then to open sale."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import PurchaseFactory, TicketFactory, wait_in_line
from tests.inventory import assert_inventory_adds_up
from tickets.models import TicketPurchase
from tickets.sale.payment import purchase_fail, ticket_process_batches
from tickets.sale.purchases import purchase_cancel, purchase_reserve

pytestmark = pytest.mark.django_db


def in_order(ticket, *specs) -> list[TicketPurchase]:
    """Purchases accepted one after the other, as (quantity, token) pairs."""
    start = timezone.now() - timedelta(seconds=len(specs))
    purchases = []
    for n, (quantity, token) in enumerate(specs):
        purchase = PurchaseFactory(ticket=ticket, quantity=quantity, payment_token=token)
        TicketPurchase.objects.filter(pk=purchase.pk).update(
            created_at=start + timedelta(seconds=n)
        )
        purchases.append(purchase)
    return purchases


def outcomes(purchases) -> list[tuple[str, str | None]]:
    for purchase in purchases:
        purchase.refresh_from_db()
    return [(purchase.status, purchase.failure_reason) for purchase in purchases]


def test_a_junk_token_ahead_does_not_cost_honest_buyers_their_seats(
    published, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(total_quantity=10)
    bot, *honest = in_order(ticket, (10, "tok_junk"), *[(2, "tok_success")] * 5)

    with django_capture_on_commit_callbacks(execute=True):
        ticket_process_batches(ticket_id=ticket.pk)  # the bot is seated, its charge declined
    assert outcomes([bot]) == [("failed", "payment_declined")]
    assert outcomes(honest) == [("pending", None)] * 5  # waited in line, not sold out
    with django_capture_on_commit_callbacks(execute=True):
        ticket_process_batches(ticket_id=ticket.pk)  # rung by the seats coming back

    assert outcomes(honest) == [("confirmed", None)] * 5
    ticket.refresh_from_db()
    assert ticket.available_quantity == 0
    assert_inventory_adds_up(ticket)


def test_a_waiting_purchase_keeps_the_free_seats_from_those_behind_it(
    published, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(total_quantity=3)
    charging = in_order(ticket, (2, "tok_pending"))
    ticket_process_batches(ticket_id=ticket.pk)  # two seats in flight, one free
    waiting, behind = in_order(ticket, (2, "tok_success"), (1, "tok_success"))

    ticket_process_batches(ticket_id=ticket.pk)

    # `waiting` needs the free seat and one that may come back: nobody behind
    # takes the free seat meanwhile, and `behind` waits for what may come back.
    assert outcomes([*charging, waiting, behind]) == [("pending", None)] * 3
    ticket.refresh_from_db()
    assert ticket.available_quantity == 1
    with django_capture_on_commit_callbacks(execute=True):
        purchase_fail(purchase_id=charging[0].pk, reason="payment_declined")
        ticket_process_batches(ticket_id=ticket.pk)
    assert outcomes([waiting, behind]) == [("confirmed", None)] * 2


def test_sold_out_only_when_nothing_in_flight_could_come_back(published):
    ticket = TicketFactory(total_quantity=2)
    sold = in_order(ticket, (2, "tok_success"))
    ticket_process_batches(ticket_id=ticket.pk)
    late = in_order(ticket, (1, "tok_success"))
    ticket_process_batches(ticket_id=ticket.pk)
    assert outcomes(sold + late) == [("confirmed", None), ("failed", "sold_out")]


def test_seats_coming_back_go_to_waiting_purchases_then_to_the_waiting_list(
    published, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(total_quantity=2)
    holds = in_order(ticket, (1, ""), (1, ""))
    for hold in holds:
        purchase_reserve(purchase_id=hold.pk)
    entry = wait_in_line(ticket, "w@example.com")
    (buyer,) = in_order(ticket, (1, "tok_success"))
    ticket_process_batches(ticket_id=ticket.pk)
    assert outcomes([buyer]) == [("pending", None)]  # waits: the holds may come back

    with django_capture_on_commit_callbacks(execute=True):
        purchase_cancel(purchase_id=holds[0].pk)
        ticket_process_batches(ticket_id=ticket.pk)
    entry.refresh_from_db()
    assert (outcomes([buyer]), entry.state) == ([("confirmed", None)], "waiting")

    purchase_cancel(purchase_id=holds[1].pk)  # nobody waits in line now: the list's turn
    entry.refresh_from_db()
    assert entry.state == "offered"
    ticket.refresh_from_db()
    assert_inventory_adds_up(ticket)
