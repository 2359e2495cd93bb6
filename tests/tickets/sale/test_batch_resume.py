"""A resumed batch (its doorbell redelivered after a worker died, or retried
after an outage) settles only the charges a batch seated: purchases charging
under their own task (an unpaid hold paid through `complete/`, a purchase taken
from a waiting-list offer) are settled by their own rules."""

import pytest

from tests.factories import PurchaseFactory, TicketFactory, wait_in_line
from tests.inventory import assert_inventory_adds_up
from tickets.models import TicketPurchase, WaitingListEntry
from tickets.sale import payment
from tickets.sale.payment import ticket_process_batches
from tickets.sale.purchases import purchase_cancel, purchase_reserve, purchase_submit_payment
from tickets.waiting_list.offers import offer_take

pytestmark = pytest.mark.django_db

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


def charging_on_its_own(purchase_id) -> TicketPurchase:
    """The purchase's own task began its charge (payment processing) and has
    not had the gateway's answer yet."""
    return payment._payment_begin(purchase_id)


def test_a_resumed_batch_leaves_an_unpaid_hold_paid_through_complete_to_its_own_rules():
    ticket = TicketFactory(total_quantity=3)
    hold = purchase_reserve(
        purchase_id=PurchaseFactory(ticket=ticket, quantity=1, payment_token="").pk
    )
    purchase_submit_payment(purchase_id=hold.pk, payment_token="tok_success")
    charging_on_its_own(hold.pk)

    ticket_process_batches(ticket_id=ticket.pk, resume=True)

    hold.refresh_from_db()
    assert hold.status in (Status.PENDING, Status.CONFIRMED)
    assert_inventory_adds_up(ticket)  # the unpaid-hold count follows the purchase


def test_a_resumed_batch_leaves_a_declined_offer_purchase_to_reopen_its_offer():
    ticket = TicketFactory(total_quantity=1)
    holder = purchase_reserve(
        purchase_id=PurchaseFactory(ticket=ticket, quantity=1, payment_token="").pk
    )
    wait_in_line(ticket, "w@x.io", 1, name="W")
    purchase_cancel(purchase_id=holder.pk)  # the seat is offered to the line
    entry = WaitingListEntry.objects.get()
    bought = offer_take(entry_id=entry.pk, payment_token="tok_decline")
    charging_on_its_own(bought.pk)

    ticket_process_batches(ticket_id=ticket.pk, resume=True)
    payment.purchase_charge(purchase_id=bought.pk)  # its own task, answered: declined

    entry.refresh_from_db()
    assert entry.state == WaitingListEntry.State.OFFERED  # the buyer may try another card
    assert_inventory_adds_up(ticket)
