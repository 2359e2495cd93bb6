"""The plain-text part of every e-mail says what the buyer typed and what the
event is called, as they are: HTML escaping is for the HTML part only (a name
with an apostrophe, an event with an ampersand, a link with a query string)."""

import pytest

from tests.factories import PurchaseFactory, TicketFactory, wait_in_line
from tickets.delivery.emails import (
    confirmation_message,
    entry_cancelled_message,
    entry_message,
    offer_message,
    refund_message,
)

pytestmark = pytest.mark.django_db

NAME = "Seán O'Brien <Co>"
EVENT = "Rock & Roll Night"
LINK = "https://tickets.example.com/waiting/abc/?token=x&next=/"


def text_and_html(message) -> tuple[str, str]:
    (html, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    return message.body, html


def assert_raw_in_text_and_escaped_in_html(message, *raw: str):
    text, html = text_and_html(message)
    for value in raw:
        assert value in text
        assert value not in html
    assert "&amp;" not in text and "&#x27;" not in text and "&lt;" not in text
    assert "O&#x27;Brien &lt;Co&gt;" in html and "Rock &amp; Roll Night" in html


def test_the_confirmation():
    purchase = PurchaseFactory(ticket=TicketFactory(name=EVENT), customer_name=NAME)
    message = confirmation_message(purchase, ["TKT-AAAA0000"])
    assert_raw_in_text_and_escaped_in_html(message, NAME, EVENT)


def test_the_refund_notice():
    purchase = PurchaseFactory(ticket=TicketFactory(name=EVENT), customer_name=NAME)
    assert_raw_in_text_and_escaped_in_html(refund_message(purchase), NAME, EVENT)


@pytest.mark.parametrize("build", [entry_message, offer_message, entry_cancelled_message])
def test_the_waiting_list_mails(build, published):
    ticket = TicketFactory(name=EVENT, total_quantity=1, available_quantity=0)
    entry = wait_in_line(ticket, "sean@example.com", name=NAME)
    message = build(entry, link=LINK)
    assert_raw_in_text_and_escaped_in_html(message, NAME, EVENT, LINK)
