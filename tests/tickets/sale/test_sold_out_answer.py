"""Sold out, answered from Redis (tickets/sold_out.py): once the database has
refused a create with no seat free and none held, the ticket's next creates
are answered 409 `sold_out` in the one Redis round trip before an INSERT, with
no SQL and nothing stored; seats put back on sale clear that on commit, and
the mark never lives longer than SOLD_OUT_ANSWER_MAX_AGE_SECONDS."""

import pytest
from django.db import transaction

from project.redis_client import redis_client
from tests.factories import PurchaseFactory, TicketFactory, purchase_request
from tickets import inventory
from tickets.models import Ticket, TicketPurchase
from tickets.sold_out import sold_out_key

pytestmark = pytest.mark.django_db

CREATE_URL = "/api/tickets/purchase/direct/"


def post(api_client, ticket, **overrides):
    return api_client.post(CREATE_URL, purchase_request(ticket, **overrides), format="json")


def sold_out_ticket(**fields):
    """Every seat sold, none held: what the database refuses for good."""
    return TicketFactory(total_quantity=2, available_quantity=0, **fields)


def assert_sold_out(response):
    assert response.status_code == 409 and response.json()["code"] == "sold_out"


def test_after_the_database_says_sold_out_redis_answers_with_no_sql(api_client, published, trace):
    ticket = sold_out_ticket()
    assert_sold_out(post(api_client, ticket))  # the database decides
    trace.clear()
    assert_sold_out(post(api_client, ticket))
    assert trace == ["redis"]
    assert TicketPurchase.objects.count() == 0


def test_the_mark_never_outlives_its_bound(api_client, published, settings):
    settings.SOLD_OUT_ANSWER_MAX_AGE_SECONDS = 3
    ticket = sold_out_ticket()
    assert_sold_out(post(api_client, ticket))
    assert 0 < redis_client().ttl(sold_out_key(ticket.pk)) <= 3


def test_seats_back_on_sale_are_sold_at_once(
    api_client, published, django_capture_on_commit_callbacks
):
    ticket = sold_out_ticket()
    assert_sold_out(post(api_client, ticket))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        inventory.seats_move(ticket.pk, to_sale=1, to_offers=0, to_line=0, unpaid=0, returned=1)
    assert post(api_client, ticket).status_code == 202


def test_seats_kept_for_the_line_put_on_sale_are_sold_at_once(
    api_client, published, django_capture_on_commit_callbacks
):
    ticket = sold_out_ticket()
    assert_sold_out(post(api_client, ticket))
    Ticket.objects.filter(pk=ticket.pk).update(list_held_quantity=1)
    with django_capture_on_commit_callbacks(execute=True):
        inventory.seats_kept_to_sale(ticket_id=ticket.pk)
    assert post(api_client, ticket).status_code == 202


def test_a_refusal_with_seats_left_marks_nothing(api_client, published):
    ticket = TicketFactory(total_quantity=2, available_quantity=1)
    assert_sold_out(post(api_client, ticket, quantity=2))  # one free, two asked
    assert not redis_client().exists(sold_out_key(ticket.pk))
    assert post(api_client, ticket, quantity=1).status_code == 202


def test_a_refusal_while_seats_are_held_marks_nothing(api_client, published):
    ticket = TicketFactory(total_quantity=1, available_quantity=0)
    PurchaseFactory(ticket=ticket, quantity=1, inventory_reserved=True)
    assert post(api_client, ticket).status_code == 202  # the held seat may come back
    assert not redis_client().exists(sold_out_key(ticket.pk))


def test_sold_out_answers_from_redis_still_count_against_the_rate(api_client, published, rate):
    rate("2/minute")
    ticket = sold_out_ticket()
    assert_sold_out(post(api_client, ticket))
    assert_sold_out(post(api_client, ticket))  # from Redis
    refused = post(api_client, ticket)
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"


@pytest.mark.parametrize("url", [CREATE_URL, CREATE_URL + "?format=json"], ids=["lean", "drf"])
def test_sold_out_is_not_a_warning_in_the_log_but_a_bad_request_still_is(
    api_client, published, caplog, url
):
    """Most buyers of a flash sale hear `sold_out`: Django's request log would
    write a warning for each; a routine refusal is counted by the metrics instead."""
    ticket = sold_out_ticket()
    caplog.set_level("WARNING", logger="django.request")
    for _ in range(2):  # the database's answer, then Redis's
        response = api_client.post(url, purchase_request(ticket), format="json")
        assert_sold_out(response)
    assert [r for r in caplog.records if r.name == "django.request"] == []

    response = api_client.post(url, purchase_request(ticket, quantity=0), format="json")
    assert response.status_code == 400
    assert [r.status_code for r in caplog.records if r.name == "django.request"] == [400]
