"""The two hot doors' cost in round trips (issue 24, item 2): a create makes
one Redis round trip before its INSERT (throttle, caps and the poll's line key
in one script) and one after (its place in line and the batch's doorbell); a
poll while the purchase waits in line makes one Redis round trip and no SQL.
The throttle still counts every create, stored or not, and refuses past its rate."""

import pytest

from tests.factories import TicketFactory, purchase_request
from tickets.models import TicketPurchase

pytestmark = pytest.mark.django_db

CREATE_URL = "/api/tickets/purchase/direct/"


def post(api_client, ticket, **overrides):
    data = purchase_request(ticket, **overrides)
    return api_client.post(CREATE_URL, data, format="json")


def test_a_create_is_one_redis_round_trip_before_its_insert_and_one_after(
    api_client, published, trace
):
    ticket = TicketFactory()
    post(api_client, ticket)  # warm: first-use work (script loading, connections)
    trace.clear()
    assert post(api_client, ticket).status_code == 202
    redis_trips = [n for n, what in enumerate(trace) if what == "redis"]
    first_insert = trace.index("INSERT")
    assert len(redis_trips) == 2, trace
    assert redis_trips[0] < first_insert < redis_trips[1], trace


def test_a_poll_in_line_is_one_redis_round_trip_and_no_sql(api_client, published, trace):
    location = post(api_client, TicketFactory())["Location"]
    api_client.get(location)  # warm: the script is loaded once per Redis
    trace.clear()
    assert api_client.get(location).status_code == 200
    assert trace == ["redis"]


def test_every_create_counts_against_the_rate_stored_or_not(api_client, published, rate):
    rate("3/minute")
    ticket = TicketFactory()
    assert post(api_client, ticket).status_code == 202
    assert post(api_client, ticket, quantity=0).status_code == 400  # invalid: counted too
    key = {"HTTP_IDEMPOTENCY_KEY": "k-1"}
    data = purchase_request(ticket)
    assert api_client.post(CREATE_URL, data, format="json", **key).status_code == 202
    refused = api_client.post(CREATE_URL, data, format="json", **key)  # a replay, the 4th
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
    assert TicketPurchase.objects.count() == 2


def test_a_throttled_create_stores_nothing_and_claims_no_seats(
    api_client, published, rate, settings
):
    rate("1/minute")
    settings.HOLD_CAP_PER_CLIENT = 2
    ticket = TicketFactory()
    assert post(api_client, ticket, quantity=2).status_code == 202
    assert post(api_client, ticket, quantity=1).status_code == 429
    assert TicketPurchase.objects.count() == 1
    # The refused request held no seat in flight: another client's allowance is whole,
    # and the first client's cap still counts only its one purchase.
    other = api_client.post(
        CREATE_URL,
        purchase_request(ticket, quantity=2),
        format="json",
        REMOTE_ADDR="198.51.100.3",
    )
    assert other.status_code == 202


def test_past_the_rate_an_invalid_create_is_told_429_first(api_client, published, rate):
    rate("1/minute")
    ticket = TicketFactory()
    assert post(api_client, ticket).status_code == 202
    assert post(api_client, ticket, quantity=0).status_code == 429
