"""Caps on seats in flight (issue 21, item 2): one client address and one
e-mail may have at most so many seats of a ticket in purchases not yet ended,
whatever their token; the caps hold when the purchases arrive all at once, and
every end of a purchase gives its seats back to the cap."""

import pytest
from django.db import connection

from tests.at_once import at_once
from tests.factories import TicketFactory, purchase_request
from tickets.errors import HoldLimitReached
from tickets.models import TicketPurchase
from tickets.sale.accept import purchase_accept
from tickets.sale.payment import purchase_process, ticket_process_batches
from tickets.sale.purchases import purchase_cancel, purchase_submit_payment

URL = "/api/tickets/purchase/direct/"
BOT = {"REMOTE_ADDR": "203.0.113.66"}


def buy(api_client, ticket, email="bot@example.com", quantity=1, **extra):
    data = purchase_request(ticket, customer_email=email, quantity=quantity, **extra)
    return api_client.post(URL, data, format="json", **BOT)


@pytest.mark.django_db
def test_a_junk_token_counts_against_the_client_cap(api_client, settings):
    settings.HOLD_CAP_PER_CLIENT = 4
    ticket = TicketFactory(total_quantity=100)
    codes = [
        buy(api_client, ticket, f"bot{n}@example.com", 2, payment_token="tok_junk").status_code
        for n in range(3)
    ]
    assert codes == [202, 202, 429]
    assert TicketPurchase.objects.filter(ticket=ticket).count() == 2
    # Another client, and another ticket, have their own allowance.
    other = purchase_request(ticket, customer_email="ann@example.com", quantity=2)
    assert api_client.post(URL, other, format="json", REMOTE_ADDR="198.51.100.2").status_code == 202
    assert buy(api_client, TicketFactory(), "bot9@example.com", 4).status_code == 202


@pytest.mark.django_db
def test_one_email_is_capped_from_any_address(api_client, settings):
    settings.HOLD_CAP_PER_EMAIL = 3
    ticket = TicketFactory(total_quantity=100)
    codes = [
        api_client.post(
            URL,
            purchase_request(ticket, customer_email="Bot@Example.com", quantity=2),
            format="json",
            REMOTE_ADDR=f"192.0.2.{n}",
        ).status_code
        for n in range(2)
    ]
    assert codes == [202, 429]


# Real commits: a purchase's seats leave the cap once its end is committed.
@pytest.mark.django_db(transaction=True)
def test_every_end_of_a_purchase_gives_its_seats_back_to_the_cap(api_client, settings, published):
    settings.HOLD_CAP_PER_CLIENT = 2
    ticket = TicketFactory(total_quantity=100)
    held = buy(api_client, ticket, "a@example.com", 2, payment_token="")
    assert buy(api_client, ticket, "b@example.com").status_code == 429
    purchase_cancel(purchase_id=held.json()["purchase_id"])  # cancelled
    paid = buy(api_client, ticket, "c@example.com", 2)
    ticket_process_batches(ticket_id=ticket.pk)  # confirmed
    declined = buy(api_client, ticket, "d@example.com", 2, payment_token="tok_decline")
    ticket_process_batches(ticket_id=ticket.pk)  # failed
    assert buy(api_client, ticket, "e@example.com", 2).status_code == 202
    assert TicketPurchase.objects.get(pk=paid.json()["purchase_id"]).status == "confirmed"
    assert TicketPurchase.objects.get(pk=declined.json()["purchase_id"]).status == "failed"


@pytest.mark.django_db(transaction=True)
def test_a_payment_the_gateway_leaves_pending_still_counts(api_client, settings, published):
    """`complete/` with a token the gateway answers "pending" takes the hold out
    of the unpaid holds and out of expiry: it must not take it out of the cap."""
    settings.HOLD_CAP_PER_CLIENT = 2
    ticket = TicketFactory(total_quantity=100)
    held = buy(api_client, ticket, "a@example.com", 2, payment_token="")
    ticket_process_batches(ticket_id=ticket.pk)
    purchase_id = held.json()["purchase_id"]
    purchase_submit_payment(purchase_id=purchase_id, payment_token="tok_pending")
    purchase_process(purchase_id=purchase_id)
    purchase = TicketPurchase.objects.get(pk=purchase_id)
    assert (purchase.status, purchase.payment_status, purchase.payment_token) == (
        "pending",
        "processing",
        "tok_pending",
    )
    assert buy(api_client, ticket, "b@example.com", 1, payment_token="").status_code == 429
    assert buy(api_client, ticket, "c@example.com", 1).status_code == 429


@pytest.mark.django_db
def test_with_redis_unreachable_a_create_is_503_and_stores_nothing(api_client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = buy(api_client, TicketFactory(total_quantity=10))
    assert response.status_code == 503 and response.has_header("Retry-After")
    assert not TicketPurchase.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_creates_from_one_client_stay_within_its_cap(settings):
    """Ten purchases at once from one address against a cap of three seats, half
    of them with a token and half without: exactly three are stored."""
    if connection.vendor != "postgresql":
        pytest.skip("parallel creates need a database that serves many connections")
    settings.HOLD_CAP_PER_CLIENT = 3
    ticket = TicketFactory(total_quantity=100)

    def create(n: int):
        data = purchase_request(
            ticket, customer_email=f"bot{n}@x.io", payment_token="tok_success" if n % 2 else ""
        )
        return purchase_accept(data=data, key=None, user=None, client_address="203.0.113.66")

    results = at_once(create)

    refused = [r for r in results if isinstance(r, HoldLimitReached)]
    accepted = [r for r in results if not isinstance(r, Exception)]
    assert (len(accepted), len(refused)) == (3, 7)
    stored = TicketPurchase.objects.filter(ticket=ticket, client_address="203.0.113.66")
    assert stored.count() == 3
