"""The waiting list in the storefront, as the server renders it: an entry's page
in each of its states, and the "Join the waiting list" form wherever the
storefront says sold out. (The script's part runs in
tests/browser/test_storefront_waiting_list.py.)"""

import html as entities
import re
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import PurchaseFactory, TicketFactory, wait_in_line
from tests.storefront.test_views import page
from tickets.cancellation.services import entry_cancel
from tickets.models import TicketPurchase, WaitingListEntry
from tickets.sale.payment import purchase_process
from tickets.sale.purchases import purchase_cancel, purchase_create, purchase_reserve
from tickets.waiting_list.offers import offer_decline, offer_lapse, offer_take, seats_returned
from tickets.waiting_list.services import waiting_list_join, waiting_list_leave

pytestmark = pytest.mark.django_db

State = WaitingListEntry.State


@pytest.fixture(autouse=True)
def _simulation_on(settings):
    settings.PAYMENT_SIMULATION_ENABLED = True
    settings.PAYMENT_GATEWAY = "simulated"
    settings.WAITING_LIST_OFFER_SECONDS = 1800


@pytest.fixture
def sold_out():
    return TicketFactory(name="Sunset Dhow Cruise", total_quantity=10, available_quantity=0)


def join(ticket, email: str = "ann@example.com", quantity: int = 2) -> WaitingListEntry:
    """An entry in line: joined, then confirmed from its e-mailed link."""
    entry = wait_in_line(ticket, email, quantity, name="Ann Buyer")
    assert entry.state == State.WAITING
    return entry


def offered(ticket, **join_args) -> WaitingListEntry:
    """An entry offered seats: a buyer's seats come back while it waits first in line."""
    entry = join(ticket, **join_args)
    with transaction.atomic():
        seats_returned(ticket_id=ticket.pk, seats=entry.quantity)
    entry.refresh_from_db()
    assert entry.state == State.OFFERED
    return entry


def entry_page(client, entry):
    return page(client, f"/waiting-list/{entry.pk}/")


def text_of(html: str) -> str:
    """The page's words with tags dropped and spaces collapsed."""
    return re.sub(r"\s+", " ", entities.unescape(re.sub(r"<[^>]+>", " ", html)))


# --- an entry's page in each state -----------------------------------------------------


def test_an_unconfirmed_entry_offers_to_confirm_it_and_shows_no_place(client, sold_out):
    join(sold_out, email="first@example.com")
    entry = waiting_list_join(
        ticket_id=sold_out.pk,
        customer_name="Ann Buyer",
        customer_email="ann@example.com",
        quantity=3,
    )
    elements, html = entry_page(client, entry)
    words = text_of(html)
    assert "Confirm your place in line" in words
    assert "This e-mail address, ann@example.com , was given to wait for 3 tickets" in words
    assert "in line" in words and "number" not in words  # no place until confirmed
    root = elements.one("div", **{"data-waiting-entry": True})
    assert root["data-state"] == "unconfirmed" and root["data-position"] == ""
    confirm, remove = elements.all("button", **{"data-action": True})
    assert confirm["data-action"] == f"/api/tickets/waiting-list/{entry.pk}/confirm/"
    assert "Confirm my place in line" in words and "disabled" in confirm  # the script enables it
    assert remove["data-action"] == f"/api/tickets/waiting-list/{entry.pk}/leave/"
    assert "Didn\u2019t ask for this?" in words
    assert "<title>Confirm your place on the waiting list" in html
    entry.refresh_from_db()
    assert entry.state == State.UNCONFIRMED  # opening the link confirms nothing


def test_a_waiting_entry_shows_its_place_in_line(client, sold_out):
    join(sold_out, email="first@example.com")
    entry = join(sold_out, quantity=3)
    elements, html = entry_page(client, entry)
    words = text_of(html)
    assert "You are number 2 in line" in words
    assert "You asked for 3 tickets" in words
    assert "We will e-mail you at ann@example.com when seats come back" in words
    assert "Sunset Dhow Cruise" in words
    root = elements.one("div", **{"data-waiting-entry": True})
    assert root["data-state"] == "waiting"
    assert root["data-entry-url"] == f"/api/tickets/waiting-list/{entry.pk}/"
    leave = elements.one("button", **{"data-action": True})
    assert leave["data-action"] == f"/api/tickets/waiting-list/{entry.pk}/leave/"
    assert "Leave the waiting list" in html
    assert "disabled" in leave  # the script enables it: leaving goes through the API
    assert elements.one("p", **{"data-announcer": True})["aria-live"] == "polite"
    assert "<title>You are on the waiting list" in html


def test_an_offer_shows_the_held_seats_and_a_prefilled_purchase_form(client, sold_out):
    entry = offered(sold_out, quantity=2)
    elements, html = entry_page(client, entry)
    words = text_of(html)
    until = entry.offer_expires_at
    assert f"2 seats are held for you until {until:%H:%M} UTC" in words
    assert elements.one("time", datetime=until.isoformat())
    root = elements.one("div", **{"data-waiting-entry": True})
    assert root["data-state"] == "offered"
    assert 1790 <= int(root["data-offer-seconds-left"]) <= 1800
    assert elements.one("strong", **{"data-countdown": True})
    assert root["data-purchase-url"] == f"/api/tickets/waiting-list/{entry.pk}/purchase/"
    # Name, e-mail and quantity come from the entry: shown, not asked again.
    assert "Ann Buyer" in words and "ann@example.com" in words
    assert "2 \u00d7 80.00 USD" in words and "160.00 USD" in words
    inputs = elements.all("input")
    assert {field["type"] for field in inputs} == {"hidden", "radio"}  # CSRF and the cards
    cards = elements.all("input", type="radio", name="payment_token")
    assert [card["value"] for card in cards] == [
        "tok_success",
        "tok_decline",
        "tok_pending",
        "tok_error_once",
        "tok_error",
        "",
    ]
    assert [card["value"] for card in cards if "checked" in card] == ["tok_success"]
    labels = {label["for"] for label in elements.all("label")}
    assert all(card["id"] in labels for card in cards)
    buy = elements.one("button", type="submit")
    assert "disabled" in buy
    assert "Buy 2 tickets for 160.00 USD" in words
    decline = elements.one("button", **{"data-action": True})
    assert decline["data-action"] == f"/api/tickets/waiting-list/{entry.pk}/decline/"
    assert "Decline the offer" in words


def test_without_simulation_an_offer_is_paid_on_the_purchase_page(client, sold_out, settings):
    settings.PAYMENT_SIMULATION_ENABLED = False
    entry = offered(sold_out, quantity=1)
    elements, html = entry_page(client, entry)
    assert "1 seat is held for you until" in text_of(html)
    assert not elements.all("input", name="payment_token")
    assert "tok_success" not in html
    assert "pay on the next page" in html


def test_a_taken_offer_links_to_its_purchase(client, sold_out):
    entry = offered(sold_out)
    purchase = offer_take(entry_id=entry.pk)
    elements, html = entry_page(client, entry)
    assert "You took this offer" in html
    assert elements.all("a", href=f"/purchases/{purchase.pk}/")
    assert not elements.all("form")


@pytest.mark.parametrize(
    ("end", "headline", "words"),
    [
        (
            lambda entry: offer_lapse(entry_id=entry.pk, now=timezone.now() + timedelta(hours=1)),
            "The offer ended",
            "were not bought in time, so they go to the next person in line",
        ),
        (
            lambda entry: offer_decline(entry_id=entry.pk),
            "You declined the offer",
            "went to the next person in line",
        ),
        (
            lambda entry: waiting_list_leave(entry_id=entry.pk),
            "You left the waiting list",
            "We will not e-mail you about seats for this event",
        ),
        (
            lambda entry: entry_cancel(entry_id=entry.pk),
            "The event is cancelled",
            "Its waiting list is closed and nothing is on offer any more",
        ),
    ],
    ids=["lapsed", "declined", "left", "cancelled"],
)
def test_an_ended_entry_says_what_happened_and_links_back_to_the_event(
    client, sold_out, end, headline, words
):
    entry = offered(sold_out) if headline != "You left the waiting list" else join(sold_out)
    end(entry)
    elements, html = entry_page(client, entry)
    assert headline in html
    assert words in text_of(html)
    assert elements.all("a", href=f"/events/{sold_out.pk}/")
    assert not elements.all("form")
    assert not elements.all("button")


def test_an_offer_past_its_end_reads_as_ended_before_the_sweep_records_it(client, sold_out):
    entry = offered(sold_out)
    WaitingListEntry.objects.filter(pk=entry.pk).update(
        offer_expires_at=timezone.now() - timedelta(seconds=1)
    )
    elements, html = entry_page(client, entry)
    assert "The offer ended" in html
    assert not elements.all("form")
    entry.refresh_from_db()
    assert entry.state == State.OFFERED  # the page only reads


def test_an_entry_of_an_event_no_longer_on_sale_links_to_the_other_events(client, sold_out):
    entry = join(sold_out)
    waiting_list_leave(entry_id=entry.pk)
    sold_out.is_on_sale = False
    sold_out.save()
    elements, _ = entry_page(client, entry)
    assert not elements.all("a", href=f"/events/{sold_out.pk}/")
    assert elements.all("a", href="/")


def test_the_page_only_reads(client, sold_out):
    entry = offered(sold_out)
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/waiting-list/{entry.pk}/")
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []


def test_an_unknown_entry_is_404(client):
    assert client.get("/waiting-list/6f1c1e44-9b5a-4a4b-8a55-2f8c43c9a111/").status_code == 404
    assert client.get("/waiting-list/not-an-id/").status_code == 404


# --- "Join the waiting list" where the storefront says sold out ------------------------


def join_form_fields(elements) -> list[dict]:
    return [
        field
        for field in elements.all("input")
        if field.get("id", "").startswith("join-") and field["type"] != "hidden"
    ]


def test_a_sold_out_event_page_has_the_join_form(client, sold_out):
    elements, html = page(client, f"/events/{sold_out.pk}/")
    form = elements.one("form", **{"data-join-form": True})
    assert "hidden" not in form
    assert form["data-join-url"] == f"/api/tickets/{sold_out.pk}/waiting-list/"
    assert "Join the waiting list" in html
    # Name, e-mail, quantity, in that order; each labelled, its error slot under it.
    fields = join_form_fields(elements)
    assert [(field["name"], field["type"]) for field in fields] == [
        ("customer_name", "text"),
        ("customer_email", "email"),
        ("quantity", "number"),
    ]
    labels = {label["for"] for label in elements.all("label")}
    for field in fields:
        assert field["id"] in labels
        assert "required" in field
        slot = f"join-error-{field['name']}"
        assert slot in field["aria-describedby"].split()
        assert elements.one("p", id=slot)
    assert fields[2]["max"] == "10"
    # Joining needs the script, like buying; browsing does not.
    assert "disabled" in elements.one("button", type="submit")
    assert "Joining the waiting list needs JavaScript" in html
    assert not elements.all("form", **{"data-buy-form": True})


def test_an_event_on_sale_keeps_the_join_form_for_a_buy_that_meets_sold_out(client):
    ticket = TicketFactory(total_quantity=10)
    elements, html = page(client, f"/events/{ticket.pk}/")
    assert elements.one("form", **{"data-buy-form": True})
    # Inert until the script shows it: the page has one form to fill in.
    assert elements.one("form", **{"data-join-form": True})
    opens, closes = html.index("<template data-join-template>"), html.index("</template>")
    assert opens < html.index("data-join-form") < closes


def test_a_sold_out_purchase_offers_the_waiting_list_prefilled(client, sold_out):
    purchase = PurchaseFactory(
        ticket=sold_out,
        quantity=3,
        customer_name="Ann Buyer",
        customer_email="ann@example.com",
        status=TicketPurchase.Status.FAILED,
        failure_reason="sold_out",
    )
    elements, html = page(client, f"/purchases/{purchase.pk}/")
    assert elements.one("div", **{"data-purchase": True})["data-state"] == "sold_out"
    form = elements.one("form", **{"data-join-form": True})
    assert form["data-join-url"] == f"/api/tickets/{sold_out.pk}/waiting-list/"
    values = {field["name"]: field["value"] for field in join_form_fields(elements)}
    assert values == {
        "customer_name": "Ann Buyer",
        "customer_email": "ann@example.com",
        "quantity": "3",
    }
    assert "Join the waiting list" in html


def test_a_declined_offer_purchase_leads_back_to_its_offer(client, published):
    ticket = TicketFactory(name="Sunset Dhow Cruise", total_quantity=1)
    hold = purchase_create(
        ticket_id=ticket.pk,
        quantity=1,
        customer_name="Early",
        customer_email="early@example.com",
        payment_method="card",
    )
    purchase_reserve(purchase_id=hold.pk)
    entry = wait_in_line(ticket, "ann@example.com", 1, name="Ann")
    purchase_cancel(purchase_id=hold.pk)
    declined = offer_take(entry_id=entry.pk, payment_token="tok_decline")
    purchase_process(purchase_id=declined.pk)

    page = client.get(f"/purchases/{declined.pk}/").content.decode()

    assert "Your card was declined" in page
    assert f'href="/waiting-list/{entry.pk}/"' in page
