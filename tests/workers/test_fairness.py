"""Fair order behind a declined charge, with a real worker on the real broker
(issue 21, item 1): a bot's 10-seat purchase with a junk token, seated in the
same batch as five honest buyers behind it, must not cost them their seats.
They wait in line while its charge is in flight; when it is declined the
seats coming back ring the batch again, and the worker seats them."""

import pytest

from tests.factories import TicketFactory
from tests.inventory import assert_inventory_adds_up
from tests.waiting import wait_until_final
from tickets.models import PurchaseEvent, TicketPurchase
from tickets.sale.purchases import purchase_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SOLD = ("confirmed", "completed")  # completed: the tickets were mailed
# One batch gathers the whole burst; each charge takes a while, as a real one does.
ONE_BATCH = {"BATCH_LINGER_MS": "1500", "SIMULATED_GATEWAY_LATENCY_MS": "300"}


def buy(ticket, n: int, quantity: int, token: str) -> str:
    purchase = purchase_create(
        ticket_id=ticket.pk,
        quantity=quantity,
        customer_name=f"Buyer {n}",
        customer_email=f"buyer{n}@example.com",
        payment_method="card",
        payment_token=token,
    )
    return str(purchase.pk)


def test_a_declined_junk_token_ahead_leaves_the_honest_buyers_their_seats(start_worker):
    start_worker("fairness", concurrency=2, extra_env=ONE_BATCH)
    ticket = TicketFactory(total_quantity=10)
    bot = buy(ticket, 0, 10, "tok_junk")
    honest = [buy(ticket, n, 2, "tok_success") for n in range(1, 6)]

    final = {str(p.pk): p for p in wait_until_final([bot, *honest], timeout=90)}

    assert (final[bot].status, final[bot].failure_reason) == ("failed", "payment_declined")
    assert all(final[pk].status in SOLD for pk in honest)
    # They were decided in the bot's batch and waited, not failed and bought again.
    waited = PurchaseEvent.objects.filter(purchase_id__in=honest, action="failed")
    assert not waited.exists()
    ticket.refresh_from_db()
    assert ticket.available_quantity == 0
    assert TicketPurchase.objects.filter(ticket=ticket, status__in=SOLD).count() == 5
    assert_inventory_adds_up(ticket)
