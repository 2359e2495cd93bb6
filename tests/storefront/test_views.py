"""The storefront's pages as the server renders them (no JavaScript): the event
list, an event's purchase form, a purchase's page."""

from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from storefront.views import buyer_state
from tests.factories import PurchaseFactory, TicketFactory
from tickets.models import TicketCode, TicketPurchase

pytestmark = pytest.mark.django_db

Status = TicketPurchase.Status


class Elements(HTMLParser):
    """Every start tag of a page as (tag, attributes), and its visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str, **attrs) -> list[dict]:
        """The tags with these attribute values (True: the attribute is there)."""
        return [
            found
            for name, found in self.tags
            if name == tag
            and all(
                key in found if value is True else found.get(key) == value
                for key, value in attrs.items()
            )
        ]

    def one(self, tag: str, **attrs) -> dict:
        [found] = self.all(tag, **attrs)
        return found


def page(client, url: str) -> tuple[Elements, str]:
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    return Elements(html), html


# --- the event list ----------------------------------------------------------------------


def test_the_list_shows_each_event_on_sale_without_javascript(client):
    dance = TicketFactory(
        name="Traditional Dance Performance",
        price=Decimal("80.00"),
        currency="USD",
        venue="Old Fort Amphitheatre",
        destination_name="Zanzibar",
        starts_at=timezone.now().replace(microsecond=0) + timedelta(days=10),
        total_quantity=50,
        available_quantity=12,
    )
    elements, html = page(client, "/")
    assert "Traditional Dance Performance" in html
    assert "80.00 USD" in html
    assert "Old Fort Amphitheatre, Zanzibar" in html
    assert "12 of 50 left" in html
    when = elements.one("time")
    assert when["datetime"] == dance.starts_at.isoformat()
    assert dance.starts_at.strftime("%-d %b %Y, %H:%M") in html
    # Every event links to its own page, where it is bought.
    assert elements.all("a", href=f"/events/{dance.pk}/")
    assert "/static/storefront/storefront.css" in html


def test_the_list_hides_what_is_not_on_sale_and_says_sold_out(client):
    TicketFactory(name="Withdrawn Show", is_on_sale=False)
    TicketFactory(name="Yesterday's Tour", starts_at=timezone.now() - timedelta(days=1))
    TicketFactory(name="Sale Not Open", sale_starts_at=timezone.now() + timedelta(days=1))
    TicketFactory(name="Sale Closed", sale_ends_at=timezone.now() - timedelta(minutes=1))
    TicketFactory(name="Full House", total_quantity=10, available_quantity=0)
    _, html = page(client, "/")
    for hidden in ("Withdrawn Show", "Yesterday", "Sale Not Open", "Sale Closed"):
        assert hidden not in html
    assert "Full House" in html
    assert "Sold out" in html


def test_an_empty_catalog_says_so(client):
    _, html = page(client, "/")
    assert "Nothing is on sale right now" in html


# --- an event's page ----------------------------------------------------------------------


def test_the_event_page_has_a_labelled_purchase_form(client):
    ticket = TicketFactory(name="Night Tour", total_quantity=20)
    elements, html = page(client, f"/events/{ticket.pk}/")
    form = elements.one("form", **{"data-buy-form": True})
    assert form["data-ticket-id"] == str(ticket.pk)
    assert form["data-create-url"] == "/api/tickets/purchase/direct/"
    labels = {label["for"] for label in elements.all("label")}
    for name, kind in (
        ("quantity", "number"),
        ("customer_name", "text"),
        ("customer_email", "email"),
    ):
        field = elements.one("input", id=name)
        assert field["name"] == name
        assert field["type"] == kind
        assert field["id"] in labels, f"{name} has no <label>"
        assert "required" in field
    quantity = elements.one("input", id="quantity")
    assert (quantity["min"], quantity["max"], quantity["value"]) == ("1", "10", "1")
    # The buttons wait for the script (buying goes through the API); without it, a note says so.
    buttons = elements.all("button", type="submit")
    assert buttons and all("disabled" in button for button in buttons)
    assert "Buying needs JavaScript" in html


def test_the_quantity_is_capped_by_the_seats_left(client):
    ticket = TicketFactory(total_quantity=20, available_quantity=3)
    elements, _ = page(client, f"/events/{ticket.pk}/")
    assert elements.one("input", id="quantity")["max"] == "3"


def test_simulated_cards_are_offered_while_simulation_is_on(client, settings):
    settings.PAYMENT_SIMULATION_ENABLED = True
    settings.PAYMENT_GATEWAY = "simulated"
    ticket = TicketFactory()
    elements, html = page(client, f"/events/{ticket.pk}/")
    cards = elements.all("input", type="radio", name="payment_token")
    assert [card["value"] for card in cards] == [
        "tok_success",
        "tok_decline",
        "tok_pending",
        "tok_error_once",
        "tok_error",
        "",
    ]
    # The card that succeeds is the default, so "Buy" alone ends with tickets.
    assert [card["value"] for card in cards if "checked" in card] == ["tok_success"]
    labels = {label["for"] for label in elements.all("label")}
    assert all(card["id"] in labels for card in cards)
    assert "Card that succeeds" in html
    assert "Pay later" in html


@pytest.mark.parametrize(
    ("enabled", "gateway"), [(False, "simulated"), (True, "acme"), (False, "acme")]
)
def test_no_simulated_cards_unless_the_simulated_gateway_is_on(client, settings, enabled, gateway):
    settings.PAYMENT_SIMULATION_ENABLED = enabled
    settings.PAYMENT_GATEWAY = gateway
    ticket = TicketFactory()
    elements, html = page(client, f"/events/{ticket.pk}/")
    assert not elements.all("input", name="payment_token")
    assert "tok_success" not in html
    assert elements.one("input", id="customer_email")


def test_a_sold_out_event_says_so_instead_of_a_purchase_form(client):
    ticket = TicketFactory(total_quantity=10, available_quantity=0)
    elements, html = page(client, f"/events/{ticket.pk}/")
    assert "Sold out" in html
    assert not elements.all("form", **{"data-buy-form": True})
    # It offers the waiting list instead (tests/storefront/test_waiting_list.py).
    assert elements.one("form", **{"data-join-form": True})


@pytest.mark.parametrize(
    "not_on_sale",
    [
        {"is_on_sale": False},
        {"starts_at": timezone.now() - timedelta(hours=1)},
        {"sale_starts_at": timezone.now() + timedelta(days=1)},
    ],
)
def test_an_event_not_on_sale_is_404(client, not_on_sale):
    ticket = TicketFactory(**not_on_sale)
    assert client.get(f"/events/{ticket.pk}/").status_code == 404


def test_an_unknown_event_is_404(client):
    assert client.get("/events/999999/").status_code == 404


# --- a purchase's page -----------------------------------------------------------------


def test_a_waiting_purchase_page_polls_its_status_url(client):
    purchase = PurchaseFactory()
    elements, html = page(client, f"/purchases/{purchase.pk}/")
    root = elements.one("div", **{"data-purchase": True})
    assert root["data-status-url"] == f"/api/tickets/purchase/{purchase.pk}/status/"
    assert root["data-state"] == "waiting"
    assert "in line" in html
    # Without the script, the page refreshes itself until the purchase is final.
    assert elements.all("meta", **{"http-equiv": "refresh"})
    assert elements.one("p", **{"data-announcer": True})["aria-live"] == "polite"


def test_a_confirmed_purchase_page_shows_its_codes_with_qr_images(client):
    purchase = PurchaseFactory(
        quantity=2, status=Status.COMPLETED, confirmed_at=timezone.now(), inventory_reserved=True
    )
    codes = [
        TicketCode.objects.create(purchase=purchase, code=code).code
        for code in ("TKT-AAAA1111", "TKT-BBBB2222")
    ]
    elements, html = page(client, f"/purchases/{purchase.pk}/")
    assert elements.one("div", **{"data-purchase": True})["data-state"] == "confirmed"
    images = elements.all("img", src=True)
    assert [image["src"] for image in images] == [
        f"/api/tickets/purchase/{purchase.pk}/codes/{code}/qr.svg" for code in codes
    ]
    assert [image["alt"] for image in images] == [f"QR code for {code}" for code in codes]
    assert f"Sent to your e-mail, {purchase.customer_email}." in html
    assert not elements.all("meta", **{"http-equiv": "refresh"})


def test_an_unpaid_hold_shows_its_pay_step_and_countdown(client):
    purchase = PurchaseFactory(
        payment_token="", hold_expires_at=timezone.now() + timedelta(seconds=300)
    )
    elements, _ = page(client, f"/purchases/{purchase.pk}/")
    root = elements.one("div", **{"data-purchase": True})
    assert root["data-state"] == "hold"
    assert root["data-unpaid"] == "true"
    assert 295 <= int(root["data-hold-seconds-left"]) <= 300
    assert root["data-complete-url"] == f"/api/tickets/purchase/{purchase.pk}/complete/"


def test_an_unknown_purchase_is_404(client):
    assert client.get("/purchases/6f1c1e44-9b5a-4a4b-8a55-2f8c43c9a111/").status_code == 404


@pytest.mark.parametrize(
    ("status", "payment_status", "reason", "unpaid", "submitted", "state"),
    [
        ("pending", "pending", None, False, False, "waiting"),
        ("pending", "pending", None, True, False, "hold"),
        ("pending", "pending", None, False, True, "paying"),
        ("pending", "processing", None, False, False, "paying"),
        ("confirmed", "completed", None, False, False, "confirmed"),
        ("completed", "completed", None, False, False, "confirmed"),
        ("completed", "refund_pending", None, False, False, "refunding"),
        ("failed", "failed", "payment_declined", False, False, "declined"),
        ("failed", "pending", "sold_out", False, False, "sold_out"),
        ("failed", "pending", "unpaid_holds_full", True, False, "holds_full"),
        ("failed", "failed", "payment_error", False, False, "failed"),
        ("expired", "pending", None, True, False, "expired"),
        ("cancelled", "pending", None, True, False, "cancelled"),
        ("refunded", "refunded", None, False, False, "refunded"),
        ("pending", "requires_action", None, False, False, "authenticate"),
    ],
)
def test_buyer_state(status, payment_status, reason, unpaid, submitted, state):
    assert (
        buyer_state(
            status=status,
            payment_status=payment_status,
            failure_reason=reason,
            unpaid=unpaid,
            payment_submitted=submitted,
        )
        == state
    )


def test_the_purchase_page_has_a_section_for_every_state(client):
    purchase = PurchaseFactory()
    elements, _ = page(client, f"/purchases/{purchase.pk}/")
    sections = {section["data-section"] for section in elements.all("section")}
    assert sections == {
        "waiting",
        "hold",
        "authenticate",
        "paying",
        "confirmed",
        "declined",
        "sold_out",
        "holds_full",
        "failed",
        "expired",
        "cancelled",
        "refunding",
        "refunded",
    }
