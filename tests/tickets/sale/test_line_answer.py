"""Polls of a purchase waiting in line answer from Redis, with no SQL (issue
24, item 2; tickets/line.py): the same body and ETag the database would give,
and the database again as soon as anything happens to the purchase, its key
is gone, or Redis is away."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from project.redis_client import redis_client
from tests.factories import TicketFactory, purchase_request
from tickets.line import line_key
from tickets.models import TicketPurchase
from tickets.sale import waiting_room
from tickets.sale.payment import ticket_process_batches
from tickets.sale.purchases import purchase_cancel

pytestmark = pytest.mark.django_db

CREATE_URL = "/api/tickets/purchase/direct/"


def accept(api_client, ticket, **overrides):
    response = api_client.post(
        CREATE_URL, purchase_request(ticket, **{"quantity": 2, **overrides}), format="json"
    )
    assert response.status_code == 202
    return response


def poll(api_client, location, **headers):
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(location, **headers)
    return response, len(queries)


def test_a_poll_in_line_asks_no_sql_and_answers_as_the_database_would(api_client, published):
    ticket = TicketFactory(total_quantity=100)
    accept(api_client, ticket)  # ahead in line
    location = accept(api_client, ticket)["Location"]

    fast, statements = poll(api_client, location)
    assert statements == 0
    assert fast.json()["status"] == "pending" and fast.json()["queue_position"] == 1

    redis_client().delete(line_key(fast.json()["purchase_id"]))  # what Redis forgot
    slow, statements = poll(api_client, location)
    assert statements == 1
    assert slow.json() == fast.json()
    assert (slow["ETag"], slow["Retry-After"]) == (fast["ETag"], fast["Retry-After"])


def test_an_unchanged_place_is_a_304_without_sql(api_client, published):
    location = accept(api_client, TicketFactory())["Location"]
    first, _ = poll(api_client, location)
    unchanged, statements = poll(api_client, location, HTTP_IF_NONE_MATCH=first["ETag"])
    assert (unchanged.status_code, statements) == (304, 0)


def test_once_decided_the_database_answers(
    api_client, published, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(total_quantity=100)
    location = accept(api_client, ticket)["Location"]
    with django_capture_on_commit_callbacks(execute=True):
        ticket_process_batches(ticket_id=ticket.pk)
    answer, statements = poll(api_client, location)
    assert statements == 1
    assert answer.json()["status"] == "confirmed" and answer.json()["queue_position"] is None


def test_a_purchase_cancelled_in_line_is_answered_cancelled(
    api_client, published, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(total_quantity=100)
    response = accept(api_client, ticket, payment_token="")
    with django_capture_on_commit_callbacks(execute=True):
        purchase_cancel(purchase_id=response.json()["purchase_id"])
    answer, _ = poll(api_client, response["Location"])
    assert answer.json()["status"] == "cancelled"


def test_the_fast_answer_lives_no_longer_than_its_bound(api_client, published, settings):
    settings.LINE_ANSWER_MAX_AGE_SECONDS = 7
    purchase_id = accept(api_client, TicketFactory()).json()["purchase_id"]
    assert 0 < redis_client().ttl(line_key(purchase_id)) <= 7


def test_a_purchase_left_in_line_by_a_batch_keeps_a_true_fast_answer(
    api_client, published, django_capture_on_commit_callbacks
):
    """A batch that looks at a purchase and leaves it in line (seats in flight
    may come back) stamps it; its fast answer follows the new stamp."""
    ticket = TicketFactory(total_quantity=2)
    accept(api_client, ticket, payment_token="tok_pending")  # holds both seats, unanswered
    with django_capture_on_commit_callbacks(execute=True):
        ticket_process_batches(ticket_id=ticket.pk)
        location = accept(api_client, ticket)["Location"]
        ticket_process_batches(ticket_id=ticket.pk)
    waiting = TicketPurchase.objects.get(pk=location.rstrip("/").split("/")[-2])
    assert (waiting.status, waiting.inventory_reserved) == ("pending", False)

    fast, statements = poll(api_client, location)
    assert statements == 0
    redis_client().delete(line_key(waiting.pk))
    slow, _ = poll(api_client, location)
    assert slow.json() == fast.json() and slow["ETag"] == fast["ETag"]


def test_without_redis_the_database_answers(api_client, published, settings):
    location = accept(api_client, TicketFactory())["Location"]
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    answer, statements = poll(api_client, location)
    assert answer.status_code == 200 and statements == 1
    assert answer.json()["status"] == "pending"


def test_an_unknown_purchase_is_still_404(api_client):
    assert waiting_room.in_line("00000000-0000-4000-8000-000000000000") is None
    response = api_client.get("/api/tickets/purchase/00000000-0000-4000-8000-000000000000/status/")
    assert response.status_code == 404
