"""The waiting room in a real browser: a buyer queued behind others watches
their place in line go down, then gets their tickets.

Two dozen purchases wait in the ticket's line while no worker runs; the buyer
buys through the storefront behind them; then a worker that decides three at
a time through a slow gateway drains the line while the page polls (told by
`Retry-After` to come back at least every 2 s while in line).
"""

import re
import time

import pytest
from playwright.sync_api import expect

from tests.factories import TicketFactory, purchase_request
from tests.worker_process import WebServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

AHEAD = 24
SLOW_BATCHES = {"BATCH_SIZE": "3", "SIMULATED_GATEWAY_LATENCY_MS": "1000"}


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker):
    server = WebServer(
        workers=1,
        threads=8,
        extra_env={"WHITENOISE_USE_FINDERS": "true", "QUEUE_POLL_MAX_SECONDS": "2"},
    )
    server.start()
    yield server
    server.stop()


def places_seen(page, *, first: int, timeout: float = 60.0) -> list[int]:
    """The buyers-ahead counts the page showed, in order, from `first` (already
    seen) until the tickets came."""
    seen: list[int] = [first]
    place = page.locator("[data-place] [data-position]")
    tickets = page.get_by_role("heading", name="You have your tickets")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not tickets.is_visible():
        if place.is_visible():
            text = place.inner_text()
            count = 0 if text == "You\u2019re next." else int(re.match(r"\d+", text).group())
            if not seen or seen[-1] != count:
                seen.append(count)
        time.sleep(0.1)
    return seen


def test_a_buyer_behind_others_sees_their_place_go_down(page, web, start_worker):
    ticket = TicketFactory(name="Guided Night Tour", total_quantity=AHEAD + 2)
    for n in range(AHEAD):
        accepted = page.request.post(
            f"{web.url}/api/tickets/purchase/direct/",
            data=purchase_request(ticket, quantity=1, customer_email=f"early{n}@example.com"),
        )
        assert accepted.status == 202

    page.goto(f"{web.url}/events/{ticket.pk}/")
    page.get_by_label("Number of tickets").fill("2")
    page.get_by_label("Your name").fill("Ann Buyer")
    page.get_by_label("E-mail").fill("ann@example.com")
    page.get_by_label("Card that succeeds").check()
    page.get_by_role("button", name="Buy", exact=True).click()
    expect(page.get_by_text(f"{AHEAD} buyers ahead of you.")).to_be_visible()

    # purge=False: the doorbell rung at the first accept waits for it.
    worker = start_worker("waiting-room-page", concurrency=1, extra_env=SLOW_BATCHES, purge=False)
    try:
        # The worker may decide a batch before the first look below: the place
        # before it started was seen above.
        seen = places_seen(page, first=AHEAD)
        expect(page.get_by_role("heading", name="You have your tickets")).to_be_visible()
    finally:
        worker.stop()

    assert len(seen) >= 3, f"the place barely moved: {seen}"
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == len(seen), seen
