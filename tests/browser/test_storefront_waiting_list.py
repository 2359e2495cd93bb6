"""The waiting list in a real browser: Chromium against the project under
gunicorn, joining, confirming from the e-mailed link, buying an offer,
declining and leaving through the API, with a real Celery worker sending the
e-mails (read back from a real SMTP server) and deciding the purchase bought
through an offer.

Seats come back from the test itself, through the services (a hold cancelled,
capacity added), as they would from a buyer or an operator. The tests that
need no worker come first: the worker fixture is module-scoped.
"""

import re
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_storefront import expect_tickets
from tests.factories import PurchaseFactory, TicketFactory, wait_in_line
from tests.mailbox import entry_links, wait_for_entry_link
from tests.waiting import wait_for
from tickets.models import Ticket, TicketPurchase, WaitingListEntry
from tickets.sale.purchases import purchase_cancel
from tickets.seats import ticket_change_capacity
from tickets.waiting_list.services import waiting_list_join

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

State = WaitingListEntry.State


def join_form(page):
    return page.locator("[data-join-form]")


def fill_in_join(page, *, name="Ann Buyer", email="ann@example.com", quantity=2) -> None:
    form = join_form(page)
    form.get_by_label("Your name").fill(name)
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Number of tickets wanted").fill(str(quantity))


def join_button(page):
    return page.get_by_role("button", name="Join the waiting list")


def state_heading(page):
    return page.locator("#h-state")


def line_of(ticket) -> list[WaitingListEntry]:
    return list(WaitingListEntry.objects.filter(ticket=ticket).order_by("created_at"))


def in_line(ticket, email: str, quantity: int = 2) -> WaitingListEntry:
    """Someone else already in line: joined and confirmed through the services."""
    return wait_in_line(ticket, email, quantity, name="Bo Waiter")


def check_your_email(email: str) -> str:
    return f"Check your e-mail ({email}): the link in it confirms your place in line."


def open_emailed_link(page, web, mailbox, email: str) -> str:
    """Opens the link the worker e-mailed to `email`, on the server under test
    (the e-mail names SITE_URL, the public address); answers the link."""
    link = wait_for_entry_link(mailbox.messages, email, "Confirm your place")
    page.goto(web.url + urlsplit(link).path)
    return link


# --- without a worker ------------------------------------------------------------------


def test_a_buy_that_meets_sold_out_offers_the_waiting_list(page, web):
    ticket = TicketFactory(name="Guided Night Tour", total_quantity=2)
    page.goto(f"{web.url}/events/{ticket.pk}/")
    expect(join_form(page)).to_have_count(0)
    page.get_by_label("Number of tickets", exact=True).fill("2")
    page.locator("[data-buy-form]").get_by_label("Your name").fill("Ann Buyer")
    page.locator("[data-buy-form]").get_by_label("E-mail").fill("ann@example.com")
    Ticket.objects.filter(pk=ticket.pk).update(available_quantity=0)  # sold meanwhile
    page.get_by_role("button", name="Buy", exact=True).click()

    expect(page.locator("[data-buy-status]")).to_contain_text("Sold out")
    expect(join_form(page)).to_be_visible()
    # What the buyer typed is carried over.
    expect(join_form(page).get_by_label("Your name")).to_have_value("Ann Buyer")
    expect(join_form(page).get_by_label("E-mail")).to_have_value("ann@example.com")
    expect(join_form(page).get_by_label("Number of tickets wanted")).to_have_value("2")
    join_button(page).click()
    expect(page.locator("[data-join-status]")).to_have_text(check_your_email("ann@example.com"))
    [entry] = line_of(ticket)
    assert (entry.customer_email, entry.state) == ("ann@example.com", State.UNCONFIRMED)
    assert not TicketPurchase.objects.filter(ticket=ticket).exists()


def test_joining_when_seats_are_back_on_sale_says_buy_instead(page, web):
    ticket = TicketFactory(name="Sunset Dhow Cruise", total_quantity=4, available_quantity=0)
    page.goto(f"{web.url}/events/{ticket.pk}/")
    ticket_change_capacity(ticket_id=ticket.pk, delta=3)  # nobody waits: on sale
    fill_in_join(page)
    join_button(page).click()
    expect(page.locator("[data-join-status]")).to_have_text(
        "Seats are on sale again: you can buy them now instead of waiting."
    )
    assert line_of(ticket) == []
    page.get_by_role("link", name="Reload the page to buy").click()
    expect(page.get_by_role("button", name="Buy", exact=True)).to_be_enabled()
    expect(page.get_by_label("Number of tickets", exact=True)).to_have_attribute("max", "3")


def test_declining_an_offer_passes_the_seats_to_the_next_in_line(phone_page, web):
    page = phone_page
    ticket = TicketFactory(name="Sunset Dhow Cruise", total_quantity=4, available_quantity=0)
    first = in_line(ticket, "first@example.com")
    second = in_line(ticket, "second@example.com")
    ticket_change_capacity(ticket_id=ticket.pk, delta=2)
    first.refresh_from_db()
    assert first.state == State.OFFERED

    page.goto(f"{web.url}/waiting-list/{first.pk}/")
    expect(state_heading(page)).to_contain_text("2 seats are held for you until")
    # On a phone: nothing wider than the screen, the buttons in reach of a thumb.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for button in (
        page.get_by_role("button", name=re.compile("^Buy ")),
        page.get_by_role("button", name="Decline the offer"),
    ):
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 40

    page.get_by_role("button", name="Decline the offer").click()
    expect(state_heading(page)).to_have_text("You declined the offer")
    expect(state_heading(page)).to_be_focused()  # read out where the entry stands now
    expect(page.get_by_role("link", name="Back to Sunset Dhow Cruise")).to_be_visible()

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == (State.DECLINED, State.OFFERED)
    ticket.refresh_from_db()
    assert (ticket.available_quantity, ticket.offered_quantity) == (0, 2)

    page.goto(f"{web.url}/waiting-list/{second.pk}/")
    expect(state_heading(page)).to_contain_text("2 seats are held for you until")


def test_leaving_the_waiting_list(page, web):
    ticket = TicketFactory(total_quantity=4, available_quantity=0)
    entry = in_line(ticket, "ann@example.com")
    page.goto(f"{web.url}/waiting-list/{entry.pk}/")
    expect(state_heading(page)).to_have_text("You are number 1 in line")
    page.get_by_role("button", name="Leave the waiting list").click()
    expect(state_heading(page)).to_have_text("You left the waiting list")
    entry.refresh_from_db()
    assert entry.state == State.LEFT


def test_confirming_when_seats_are_back_on_sale_says_buy_instead(page, web):
    ticket = TicketFactory(name="Sunset Dhow Cruise", total_quantity=4, available_quantity=0)
    entry = waiting_list_join(
        ticket_id=ticket.pk, customer_name="Ann", customer_email="ann@example.com", quantity=2
    )
    page.goto(f"{web.url}/waiting-list/{entry.pk}/")
    expect(state_heading(page)).to_have_text("Confirm your place in line")
    ticket_change_capacity(ticket_id=ticket.pk, delta=3)  # nobody in line: on sale

    page.get_by_role("button", name="Confirm my place in line").click()

    expect(page.get_by_text("Seats are on sale again")).to_be_visible()
    page.get_by_role("link", name="Buy them now").click()
    expect(page.get_by_role("button", name="Buy", exact=True)).to_be_enabled()
    entry.refresh_from_db()
    assert entry.state == State.UNCONFIRMED


# --- with a worker ---------------------------------------------------------------------


def test_joining_e_mails_the_link_that_confirms_the_place_in_line(page, web, pipeline, mailbox):
    mailbox.messages.clear()  # the module's mailbox: this test's e-mails only
    ticket = TicketFactory(name="Sunset Dhow Cruise", total_quantity=4, available_quantity=0)
    in_line(ticket, "early@example.com")
    page.goto(f"{web.url}/events/{ticket.pk}/")
    expect(page.get_by_text("Sold out.")).to_be_visible()
    expect(page.get_by_role("button", name="Buy", exact=True)).to_have_count(0)

    # A mistake is shown under its field, as on the purchase form.
    fill_in_join(page, email="ann@example")
    join_button(page).click()
    email = join_form(page).get_by_label("E-mail")
    expect(page.locator("#join-error-customer_email")).to_have_text("Enter a valid email address.")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_be_focused()
    assert len(line_of(ticket)) == 1

    # The page says "check your e-mail" and shows nothing of the entry: its
    # powers are for whoever reads the address.
    email.fill("ann@example.com")
    join_button(page).click()
    expect(page.locator("[data-join-status]")).to_have_text(check_your_email("ann@example.com"))
    assert page.url == f"{web.url}/events/{ticket.pk}/"
    [_, entry] = line_of(ticket)
    assert (entry.customer_email, entry.quantity, entry.state) == (
        "ann@example.com",
        2,
        "unconfirmed",
    )
    assert str(entry.pk) not in page.content()

    # The e-mail's link opens the entry's page; its button confirms the place.
    link = open_emailed_link(page, web, mailbox, "ann@example.com")
    assert f"/waiting-list/{entry.pk}/" in link
    expect(state_heading(page)).to_have_text("Confirm your place in line")
    entry.refresh_from_db()
    assert entry.state == State.UNCONFIRMED  # opening the link confirms nothing
    page.get_by_role("button", name="Confirm my place in line").click()
    expect(state_heading(page)).to_have_text("You are number 2 in line")
    expect(state_heading(page)).to_be_focused()
    expect(page.get_by_text("We will e-mail you at ann@example.com")).to_be_visible()
    entry.refresh_from_db()
    assert entry.state == State.WAITING

    # Joining again with the same e-mail answers the same, makes no second
    # entry, and e-mails the link again.
    page.goto(f"{web.url}/events/{ticket.pk}/")
    fill_in_join(page)
    join_button(page).click()
    expect(page.locator("[data-join-status]")).to_have_text(check_your_email("ann@example.com"))
    assert len(line_of(ticket)) == 2
    mailbox_links = lambda: entry_links(mailbox.messages, "ann@example.com")  # noqa: E731
    wait_for(lambda: len(mailbox_links()) == 2)
    assert set(mailbox_links()) == {link}


def test_a_buyer_waits_gets_an_offer_and_buys_it(page, web, pipeline, mailbox):
    """Sold out, with an unpaid hold on every seat: the buyer joins and confirms
    from the e-mail, the hold is cancelled, the seats are offered to the buyer,
    who buys them."""
    mailbox.messages.clear()  # the module's mailbox: this test's e-mails only
    ticket = TicketFactory(
        name="Sunset Dhow Cruise", total_quantity=2, available_quantity=0, unpaid_held_quantity=2
    )
    hold = PurchaseFactory(
        ticket=ticket,
        quantity=2,
        payment_token="",
        inventory_reserved=True,
        holds_unpaid=True,
        processing_started_at=timezone.now(),
    )
    page.goto(f"{web.url}/events/{ticket.pk}/")
    fill_in_join(page, quantity=2)
    join_button(page).click()
    expect(page.locator("[data-join-status]")).to_have_text(check_your_email("ann@example.com"))
    open_emailed_link(page, web, mailbox, "ann@example.com")
    page.get_by_role("button", name="Confirm my place in line").click()
    expect(state_heading(page)).to_have_text("You are number 1 in line")
    [entry] = line_of(ticket)

    purchase_cancel(purchase_id=hold.pk)  # the seats come back
    entry.refresh_from_db()
    assert entry.state == State.OFFERED
    page.reload()
    heading = state_heading(page)
    expect(heading).to_contain_text("2 seats are held for you until")
    expect(heading).to_contain_text(entry.offer_expires_at.strftime("%H:%M"))
    expect(page.locator("[data-countdown]")).to_have_text(re.compile(r"^(29|30):\d\d$"))
    offer = page.locator("[data-offer-form]")
    expect(offer).to_contain_text("Ann Buyer")
    expect(offer).to_contain_text("ann@example.com")
    expect(offer).to_contain_text("160.00 USD")
    expect(offer.get_by_label("Card that succeeds")).to_be_checked()
    screenshot(page, "storefront-offer")

    posts = []
    page.on(
        "request",
        lambda request: request.method == "POST"
        and request.url.endswith(f"/waiting-list/{entry.pk}/purchase/")
        and posts.append(request),
    )
    page.get_by_role("button", name="Buy 2 tickets for 160.00 USD").dblclick()
    expect_tickets(page, 2)
    assert len(posts) == 1  # the button waits while its request is on the way
    assert "idempotency-key" not in posts[0].headers

    entry.refresh_from_db()
    assert entry.state == State.TAKEN
    purchase = entry.purchase
    assert page.url == f"{web.url}/purchases/{purchase.pk}/"
    purchase.refresh_from_db()
    assert purchase.status in (TicketPurchase.Status.CONFIRMED, TicketPurchase.Status.COMPLETED)
    shown = sorted(page.locator(".codes code").all_inner_texts())
    assert shown == sorted(purchase.codes.values_list("code", flat=True))
    ticket.refresh_from_db()
    assert (ticket.available_quantity, ticket.offered_quantity) == (0, 0)

    # The offer's link now leads to the purchase.
    page.goto(f"{web.url}/waiting-list/{entry.pk}/")
    expect(state_heading(page)).to_have_text("You took this offer")
    page.get_by_role("link", name="See your purchase and tickets").click()
    expect_tickets(page, 2)
