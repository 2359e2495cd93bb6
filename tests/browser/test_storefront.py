"""The storefront in a real browser: Chromium against the project under gunicorn,
buying through the API, with a real Celery worker deciding the purchases.

The tests that need no worker come first: the worker fixture is module-scoped,
and once started it runs until the module ends (the waiting room is
photographed from a purchase no worker is told about, whatever runs).
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.factories import TicketFactory, purchase_request
from tickets.models import Ticket, TicketPurchase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

Status = TicketPurchase.Status
DECIDED_WITHIN_MS = 30_000


def fill_in(page, *, quantity: int = 1, card: str | None = "Card that succeeds") -> None:
    page.get_by_label("Number of tickets").fill(str(quantity))
    page.get_by_label("Your name").fill("Ann Buyer")
    page.get_by_label("E-mail").fill("ann@example.com")
    if card:
        page.get_by_label(card).check()


def buy_button(page):
    return page.get_by_role("button", name="Buy", exact=True)


def purchases_of(ticket) -> list[TicketPurchase]:
    return list(TicketPurchase.objects.filter(ticket=ticket))


def confirmed_section(page):
    return page.locator('[data-section="confirmed"]')


def expect_tickets(page, quantity: int) -> None:
    """The confirmed state, its codes and as many QR images, every one loaded."""
    section = confirmed_section(page)
    expect(section.get_by_role("heading", name="You have your tickets")).to_be_visible(
        timeout=DECIDED_WITHIN_MS
    )
    expect(section.locator(".codes li")).to_have_count(quantity)
    images = section.locator(".codes img")
    expect(images).to_have_count(quantity)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.codes img')]"
        ".every(image => image.complete && image.naturalWidth > 0)"
    )


# --- without a worker ------------------------------------------------------------------


def test_the_event_list_works_without_javascript(browser, web):
    TicketFactory(name="Traditional Dance Performance", venue="Old Fort", total_quantity=40)
    TicketFactory(name="Hidden Show", is_on_sale=False)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{web.url}/")
        card = page.get_by_role("article", name="Traditional Dance Performance")
        expect(card).to_contain_text("Old Fort")
        expect(card).to_contain_text("80.00 USD")
        expect(card).to_contain_text("40 of 40 left")
        expect(page.get_by_text("Hidden Show")).to_have_count(0)
        card.get_by_role("link", name="Buy tickets for Traditional Dance Performance").click()
        expect(page.get_by_role("heading", name="Traditional Dance Performance")).to_be_visible()
        expect(page.get_by_label("Number of tickets")).to_be_visible()
        expect(page.get_by_text("Buying needs JavaScript")).to_be_visible()
    finally:
        context.close()


def test_the_event_list(page, web):
    TicketFactory(
        name="Traditional Dance Performance",
        venue="Old Fort Amphitheatre",
        destination_name="Zanzibar",
        total_quantity=120,
        available_quantity=87,
    )
    TicketFactory(
        name="Guided Night Tour",
        venue="Stone Town",
        destination_name="Zanzibar",
        price="35.00",
        total_quantity=20,
        available_quantity=4,
    )
    TicketFactory(
        name="Sunset Dhow Cruise", venue="Forodhani Pier", total_quantity=30, available_quantity=0
    )
    page.goto(f"{web.url}/")
    expect(page.get_by_role("heading", name="Events on sale")).to_be_visible()
    expect(page.get_by_role("article")).to_have_count(3)
    expect(page.get_by_role("article", name="Sunset Dhow Cruise")).to_contain_text("Sold out")
    expect(page.get_by_role("article", name="Guided Night Tour")).to_contain_text("4 of 20 left")
    screenshot(page, "storefront-events")


def test_the_waiting_room_polls_with_etag(page, web):
    """Purchases waiting in their ticket's line (no worker runs yet in this module):
    the page says so and keeps asking, getting 304 while nothing changed."""
    ticket = TicketFactory(name="Guided Night Tour", total_quantity=40)
    for email in ("a@example.com", "b@example.com", "c@example.com", "ann@example.com"):
        accepted = page.request.post(
            f"{web.url}/api/tickets/purchase/direct/",
            data=purchase_request(ticket, quantity=2, customer_email=email),
        )
        assert accepted.status == 202
    last = accepted.json()["purchase_id"]
    unchanged = lambda response: "/status/" in response.url and response.status == 304  # noqa: E731
    with page.expect_response(unchanged, timeout=10_000) as answer:
        page.goto(f"{web.url}/purchases/{last}/")
        expect(page.get_by_role("heading", name="You\u2019re in line")).to_be_visible()
    assert answer.value.request.headers["if-none-match"]
    expect(page.get_by_role("heading", name="You\u2019re in line")).to_be_visible()
    assert {p.status for p in purchases_of(ticket)} == {Status.PENDING}
    screenshot(page, "storefront-waiting")


def test_a_sold_out_ticket_says_so(page, web):
    gone = TicketFactory(name="Sunset Dhow Cruise", total_quantity=30, available_quantity=0)
    page.goto(f"{web.url}/")
    expect(page.get_by_role("article", name="Sunset Dhow Cruise")).to_contain_text("Sold out")
    page.goto(f"{web.url}/events/{gone.pk}/")
    expect(page.get_by_text("Sold out.")).to_be_visible()
    expect(buy_button(page)).to_have_count(0)

    # Sold out while the buyer filled the form: the API refuses, the page says so.
    last_seats = TicketFactory(name="Guided Night Tour", total_quantity=2)
    page.goto(f"{web.url}/events/{last_seats.pk}/")
    fill_in(page, quantity=2)
    Ticket.objects.filter(pk=last_seats.pk).update(available_quantity=0)
    buy_button(page).click()
    expect(page.locator("[data-buy-status]")).to_contain_text("Sold out")
    expect(page.locator(f'[data-availability="{last_seats.pk}"]')).to_have_text("Sold out")
    assert purchases_of(last_seats) == []


def test_field_errors_are_shown_by_their_fields(page, web):
    ticket = TicketFactory()
    page.goto(f"{web.url}/events/{ticket.pk}/")
    fill_in(page)
    # The browser takes this address; the API does not (no top-level domain).
    page.get_by_label("E-mail").fill("ann@example")
    buy_button(page).click()
    expect(page.locator("#error-customer_email")).to_have_text("Enter a valid email address.")
    expect(page.get_by_label("E-mail")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("E-mail")).to_be_focused()
    assert purchases_of(ticket) == []


# --- with a worker ---------------------------------------------------------------------


def test_a_buyer_buys_two_tickets_and_sees_two_codes_with_qr_images(page, web, pipeline):
    ticket = TicketFactory(name="Traditional Dance Performance", total_quantity=50)
    page.goto(f"{web.url}/")
    page.get_by_role("link", name="Buy tickets for Traditional Dance Performance").click()
    fill_in(page, quantity=2)
    buy_button(page).click()

    expect_tickets(page, 2)
    [purchase] = purchases_of(ticket)
    assert page.url == f"{web.url}/purchases/{purchase.pk}/"
    codes = sorted(purchase.codes.values_list("code", flat=True))
    shown = sorted(page.locator(".codes code").all_inner_texts())
    assert shown == codes and len(codes) == 2
    expect(page.get_by_text("Sent to your e-mail, ann@example.com.")).to_be_visible(
        timeout=DECIDED_WITHIN_MS
    )
    expect(page).to_have_title(re.compile("^You have your tickets"))
    screenshot(page, "storefront-confirmed")

    # A reload (or a bookmark) shows the same tickets, rendered by the server.
    page.reload()
    expect_tickets(page, 2)


def test_a_declined_card_says_so_and_leaves_the_seats_free(page, web, pipeline):
    ticket = TicketFactory(total_quantity=10)
    page.goto(f"{web.url}/events/{ticket.pk}/")
    fill_in(page, quantity=3, card="Card that is declined")
    buy_button(page).click()

    expect(page.get_by_role("heading", name="Your card was declined")).to_be_visible(
        timeout=DECIDED_WITHIN_MS
    )
    expect(page.get_by_role("link", name="Try another card")).to_be_visible()
    [purchase] = purchases_of(ticket)
    assert (purchase.status, purchase.failure_reason) == (Status.FAILED, "payment_declined")
    ticket.refresh_from_db()
    assert ticket.available_quantity == ticket.total_quantity == 10

    # Trying another card is a new attempt (a new key), not a replay of the declined one.
    page.get_by_role("link", name="Try another card").click()
    fill_in(page, quantity=3)
    buy_button(page).click()
    expect_tickets(page, 3)
    assert len(purchases_of(ticket)) == 2


def test_a_double_click_on_buy_buys_once(page, web, pipeline):
    ticket = TicketFactory(total_quantity=10)
    keys = []
    page.on(
        "request",
        lambda request: request.method == "POST"
        and request.url.endswith("/purchase/direct/")
        and keys.append(request.headers["idempotency-key"]),
    )
    page.goto(f"{web.url}/events/{ticket.pk}/")
    fill_in(page)
    buy_button(page).dblclick()
    expect_tickets(page, 1)
    assert len(purchases_of(ticket)) == 1
    assert len(keys) == 1

    # Two submits in one go (faster than the button can be disabled): still one purchase.
    page.goto(f"{web.url}/events/{ticket.pk}/")
    fill_in(page, quantity=2)
    form = page.locator("[data-buy-form]")
    form.evaluate("form => { form.requestSubmit(); form.requestSubmit(); }")
    expect_tickets(page, 2)
    assert len(purchases_of(ticket)) == 2


def test_an_answer_lost_on_the_way_is_not_bought_twice(page, web, pipeline):
    """The purchase reaches the server but its 202 never reaches the browser: pressing
    Buy again sends the same Idempotency-Key, and the API answers the first purchase."""
    ticket = TicketFactory(total_quantity=10)
    keys = []

    def lose_the_first_answer(route):
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()  # the server gets it and answers...
            route.abort("connectionreset")  # ...and the answer is lost
        else:
            route.continue_()

    page.route("**/api/tickets/purchase/direct/", lose_the_first_answer)
    page.goto(f"{web.url}/events/{ticket.pk}/")
    fill_in(page, quantity=2)
    buy_button(page).click()
    expect(page.locator("[data-buy-status]")).to_contain_text("not be charged twice")
    assert len(purchases_of(ticket)) == 1

    page.reload()  # the attempt survives a reload: same details, same key
    expect(page.get_by_label("Your name")).to_have_value("Ann Buyer")
    buy_button(page).click()
    expect_tickets(page, 2)
    assert keys[0] == keys[1]
    [purchase] = purchases_of(ticket)
    assert page.url.endswith(f"/purchases/{purchase.pk}/")


def test_pay_later_holds_the_seats_then_pays_on_the_purchase_page(page, web, pipeline):
    ticket = TicketFactory(total_quantity=10)
    page.goto(f"{web.url}/events/{ticket.pk}/")
    fill_in(page, quantity=2, card="Pay later")
    buy_button(page).click()

    hold = page.locator('[data-section="hold"]')
    expect(hold.get_by_role("heading", name=re.compile("Your seats are held"))).to_be_visible()
    expect(hold.locator("[data-countdown]")).to_have_text(re.compile(r"^[45]:\d\d$"))
    [purchase] = purchases_of(ticket)
    assert purchase.payment_token == ""
    screenshot(page, "storefront-hold")

    hold.get_by_label("Card that succeeds").check()
    hold.get_by_role("button", name=re.compile("^Pay ")).click()
    expect_tickets(page, 2)
    # Each change of state is read out by screen readers (an aria-live region).
    expect(page.locator("[data-announcer]")).to_have_text("You have your tickets")
    purchase.refresh_from_db()
    assert purchase.payment_token == "tok_success"


def test_a_hold_can_be_cancelled(page, web, pipeline):
    ticket = TicketFactory(total_quantity=10)
    page.goto(f"{web.url}/events/{ticket.pk}/")
    fill_in(page, quantity=2, card="Pay later")
    buy_button(page).click()
    page.get_by_role("button", name="Cancel and release the seats").click()
    expect(page.get_by_role("heading", name="Purchase cancelled")).to_be_visible()
    ticket.refresh_from_db()
    assert ticket.available_quantity == 10


def test_the_form_is_usable_on_a_phone(phone_page, web, pipeline):
    page = phone_page
    ticket = TicketFactory(name="Traditional Dance Performance", total_quantity=50)
    page.goto(f"{web.url}/events/{ticket.pk}/")
    # Nothing wider than the screen, and every control in reach of a thumb.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for control in (
        page.get_by_label("Number of tickets"),
        page.get_by_label("Your name"),
        page.get_by_label("E-mail"),
        buy_button(page),
    ):
        box = control.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert box["height"] >= 40
    screenshot(page, "storefront-phone")

    # Keyboard order follows the form, and Enter buys.
    page.get_by_label("Number of tickets").focus()
    order = []
    focused = "document.activeElement.id || document.activeElement.textContent"
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(page.evaluate(focused))
    assert order == ["customer_name", "customer_email", "card-1", "Buy"]
    page.get_by_label("Number of tickets").fill("2")
    page.get_by_label("Your name").tap()
    page.get_by_label("Your name").fill("Ann Buyer")
    page.get_by_label("E-mail").fill("ann@example.com")
    page.get_by_label("E-mail").press("Enter")
    expect_tickets(page, 2)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
