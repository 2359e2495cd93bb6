"""Request ids (project/request_id.py): `X-Request-ID` is believed only from a
trusted proxy and only when it is a short token; otherwise a fresh id. Either
way it is echoed, bound to the request's log lines and stored on the purchase
the request creates, never shown in the API's body."""

import re

import pytest

from project import log_context
from tests.factories import TicketFactory, purchase_request
from tests.log_capture import json_log
from tests.tickets.waiting_list.test_services import expire_all_holds, join, sold_out_with_holds
from tickets.models import TicketPurchase
from tickets.sale.purchases import purchase_create
from tickets.waiting_list.offers import offer_take

pytestmark = pytest.mark.django_db

CREATE_URL = "/api/tickets/purchase/direct/"
FRESH = re.compile(r"^[0-9a-f]{32}$")
PROXY_ID = "f3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


@pytest.fixture
def behind_a_proxy(settings):
    settings.NUM_PROXIES = 1
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]


def request_id(client, given: str | None = None, *, peer: str = "10.0.0.2", path="/healthz"):
    headers = {"HTTP_X_REQUEST_ID": given} if given is not None else {}
    return client.get(path, REMOTE_ADDR=peer, **headers)["X-Request-ID"]


def test_a_trusted_proxys_id_is_kept_and_echoed(client, behind_a_proxy):
    assert request_id(client, PROXY_ID) == PROXY_ID
    assert request_id(client, "abc123") == "abc123"


def test_from_anyone_else_the_header_is_ignored_for_a_fresh_id(client, behind_a_proxy):
    answered = request_id(client, PROXY_ID, peer="203.0.113.9")
    assert answered != PROXY_ID and FRESH.match(answered)


def test_without_proxies_in_front_nobody_is_believed(client, settings):
    settings.NUM_PROXIES = 0
    settings.TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/8"]
    answered = request_id(client, PROXY_ID)
    assert answered != PROXY_ID and FRESH.match(answered)


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "a" * 65,
        "has space",
        'quote"}{"level":"CRITICAL',
        "line\nbreak",
        "-starts-with-a-dash",
        "<script>",
        "ünïcode",
    ],
)
def test_junk_even_from_a_trusted_proxy_gets_a_fresh_id(client, behind_a_proxy, junk):
    answered = request_id(client, junk)
    assert answered != junk and FRESH.match(answered)


def test_every_response_has_an_id_of_its_own(client):
    ids = {request_id(client, path=path) for path in ["/healthz", "/healthz", "/api/nope/"]}
    assert len(ids) == 3 and all(FRESH.match(answered) for answered in ids)


@pytest.fixture
def json_lines():
    with json_log() as lines:
        yield lines


def test_a_purchase_keeps_its_request_id_and_its_accept_line_carries_both(
    api_client, behind_a_proxy, json_lines
):
    ticket = TicketFactory()
    response = api_client.post(
        CREATE_URL,
        purchase_request(ticket),
        format="json",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_REQUEST_ID=PROXY_ID,
    )

    assert response.status_code == 202 and response["X-Request-ID"] == PROXY_ID
    purchase_id = response.json()["purchase_id"]
    assert TicketPurchase.objects.get(pk=purchase_id).request_id == PROXY_ID
    assert "request_id" not in response.json()  # an operator's id, not the buyer's business
    [accepted] = [line for line in json_lines() if line["logger"] == "tickets.sale.accept"]
    assert accepted["level"] == "INFO" and "accepted" in accepted["message"]
    assert (accepted["request_id"], accepted["purchase_id"]) == (PROXY_ID, purchase_id)
    assert accepted["ticket_id"] == str(ticket.pk)


def test_a_purchase_from_a_waiting_list_offer_keeps_its_request_id(published):
    ticket = sold_out_with_holds(1)
    entry = join(ticket, "w@example.com")
    expire_all_holds()
    tokens = log_context.request_begin("offer-request-1")  # as the middleware does
    try:
        purchase = offer_take(entry_id=entry.pk, payment_token="tok_success")
    finally:
        log_context.request_end(tokens)
    purchase.refresh_from_db()
    assert purchase.request_id == "offer-request-1"


def test_a_purchase_made_outside_a_request_has_none_whatever_is_bound(published):
    ticket = TicketFactory()
    with log_context.bind(request_id="of-another-purchase"):  # a worker deciding one
        purchase = purchase_create(**purchase_request(ticket))
    assert purchase.request_id == ""
