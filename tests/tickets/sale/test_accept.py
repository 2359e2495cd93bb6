"""The lean accept path (tickets/sale/accept.py) and the cheap poll: the same answers
as the serializers and services they replace, in fewer round trips."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from project.redis_client import redis_client
from project.tasks import BATCH_TASK, PROCESS_TASK
from tests.factories import PurchaseFactory, TicketFactory, UserFactory, purchase_request
from tickets.models import IdempotencyKey, PurchaseEvent, TicketPurchase
from tickets.sale import waiting_room
from tickets.sale.payment import purchase_fail, ticket_process_batches
from tickets.sale.purchases import purchase_reserve
from tickets.sale.serializers import (
    PurchaseCreateSerializer,
    PurchaseDetailSerializer,
    PurchaseStatusSerializer,
)
from tickets.sale.validation import purchase_input_validate
from tickets.selectors import tickets_on_sale

pytestmark = pytest.mark.django_db

CREATE_URL = "/api/tickets/purchase/direct/"
Status = TicketPurchase.Status
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement accept is PostgreSQL's"
)


def body(ticket, **overrides) -> dict:
    return purchase_request(ticket, **{"quantity": 2, **overrides})


def as_json(data) -> object:
    return json.loads(json.dumps(data))


# --- validation: PurchaseCreateSerializer's answers without the serializer ------------------

VALID = {
    "ticket_id": 1,
    "quantity": 2,
    "customer_name": "Ann",
    "customer_email": "ann@example.com",
    "payment_method": "card",
}
BODIES = [
    VALID,
    {**VALID, "customer_phone": "+255 700", "payment_token": "tok_success"},
    {**VALID, "customer_name": "  Ann  ", "customer_email": " ann@example.com "},
    {**VALID, "customer_name": 123, "customer_phone": 5.5, "payment_token": 7},
    {**VALID, "customer_phone": "   ", "payment_token": ""},
    {**VALID, "unit_price": "0.01", "total_amount": "0.02", "status": "confirmed"},
    {**VALID, "payment_method": "mobile_money"},
    {},
    {key: None for key in VALID} | {"customer_phone": None, "payment_token": None},
    {**VALID, "ticket_id": "1", "quantity": 1.5},
    {**VALID, "ticket_id": True, "quantity": False},
    {**VALID, "ticket_id": 0, "quantity": -1},
    {**VALID, "quantity": 11},
    {**VALID, "quantity": 10**30},
    {**VALID, "customer_name": "", "customer_email": ""},
    {**VALID, "customer_name": "   ", "customer_email": "   "},
    {**VALID, "customer_name": "x" * 121, "customer_email": "a" * 250 + "@b.cd"},
    {**VALID, "customer_name": "nul\x00l", "customer_email": "a\x00@b.cd"},
    {**VALID, "customer_name": "lone \ud800 surrogate"},
    {**VALID, "customer_name": ["Ann"], "customer_email": ["ann@example.com"]},
    {**VALID, "customer_name": True, "customer_email": {"a": 1}},
    {**VALID, "customer_email": "not-an-email"},
    {**VALID, "payment_method": "bitcoin"},
    {**VALID, "payment_method": ""},
    {**VALID, "payment_method": ["card"]},
    {**VALID, "payment_method": True},
    {**VALID, "customer_phone": "1" * 40, "payment_token": "t" * 201},
    {**VALID, "customer_phone": [], "payment_token": {}},
    [VALID],
    "a string",
    42,
    None,
]


@pytest.mark.parametrize("data", BODIES, ids=range(len(BODIES)))
def test_the_lean_validation_answers_what_the_serializer_answers(data):
    serializer = PurchaseCreateSerializer(data=data)
    if serializer.is_valid():
        assert purchase_input_validate(data) == dict(serializer.validated_data)
    else:
        with pytest.raises(Exception) as raised:
            purchase_input_validate(data)
        assert as_json(raised.value.detail) == as_json(serializer.errors)
        assert list(raised.value.detail) == list(serializer.errors)  # the fields' order too


def test_bad_input_over_http_has_the_serializers_messages(api_client):
    ticket = TicketFactory()
    response = api_client.post(
        CREATE_URL, body(ticket, quantity=11, customer_email="nope"), format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "quantity": ["Ensure this value is less than or equal to 10."],
        "customer_email": ["Enter a valid email address."],
    }
    assert not TicketPurchase.objects.exists()


# --- the 202 ---------------------------------------------------------------------------------


def test_the_202_body_is_the_detail_serializers_output(api_client):
    ticket = TicketFactory(price="80.00")
    response = api_client.post(
        CREATE_URL, body(ticket, customer_phone=" +255 ", unit_price="0.01"), format="json"
    )
    assert response.status_code == 202
    assert response["Content-Type"] == "application/json"
    purchase = TicketPurchase.objects.get(pk=response.json()["purchase_id"])
    assert response.json() == as_json(PurchaseDetailSerializer(purchase).data)
    assert (purchase.unit_price, purchase.total_amount, purchase.currency) == (80, 160, "USD")
    assert purchase.customer_phone == "+255" and purchase.client_address == "127.0.0.1"
    assert response["Location"].endswith(f"/api/tickets/purchase/{purchase.pk}/status/")


def test_holds_last_by_whether_a_token_was_given(api_client, settings):
    ticket = TicketFactory()
    before = timezone.now()
    paid = api_client.post(CREATE_URL, body(ticket), format="json").json()
    unpaid = api_client.post(CREATE_URL, body(ticket, payment_token=""), format="json").json()
    for data, seconds in ((paid, settings.PURCHASE_HOLD_SECONDS), (unpaid, 300)):
        purchase = TicketPurchase.objects.get(pk=data["purchase_id"])
        hold = purchase.hold_expires_at - before
        assert timedelta(seconds=seconds) <= hold < timedelta(seconds=seconds + 5)
    assert settings.UNPAID_HOLD_SECONDS == 300


def test_the_created_audit_row_names_the_client_or_the_user(api_client):
    ticket = TicketFactory()
    anonymous = api_client.post(CREATE_URL, body(ticket, quantity=3), format="json").json()
    user = UserFactory(username="ann")
    api_client.force_authenticate(user)
    signed_in = api_client.post(
        CREATE_URL, body(ticket, payment_method="bank_transfer"), format="json"
    ).json()

    event = PurchaseEvent.objects.get(purchase_id=anonymous["purchase_id"])
    assert (event.ticket_id, event.action, event.from_status, event.to_status) == (
        ticket.pk,
        "created",
        "",
        "pending",
    )
    assert (event.actor, event.note) == ("client 127.0.0.1", "3 seat(s), card")
    event = PurchaseEvent.objects.get(purchase_id=signed_in["purchase_id"])
    assert (event.actor, event.note) == ("user ann", "2 seat(s), bank_transfer")
    assert TicketPurchase.objects.get(pk=signed_in["purchase_id"]).user == user


@on_postgresql
def test_an_accept_is_one_sql_statement_on_postgresql(api_client):
    ticket = TicketFactory()
    api_client.post(CREATE_URL, body(ticket), format="json")  # warm: first-use work
    with CaptureQueriesContext(connection) as queries:
        response = api_client.post(CREATE_URL, body(ticket), format="json")
    assert response.status_code == 202
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert PurchaseEvent.objects.filter(purchase_id=response.json()["purchase_id"]).exists()


def test_the_ticket_queue_is_rung_and_counted_and_no_per_purchase_task_is_sent(
    api_client, published, django_capture_on_commit_callbacks
):
    ticket = TicketFactory()
    key = f"tickets:queue:{ticket.pk}"
    redis_client().hset(key, mapping={"accepted": 9, "decided": 0, "rate": "2"})
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(CREATE_URL, body(ticket), format="json")
        again = api_client.post(CREATE_URL, body(ticket), format="json")
    assert response["Retry-After"] == "5"  # 10 waiting, 2 decided a second
    assert again["Retry-After"] == "6"
    assert int(redis_client().hget(key, "accepted")) == 11
    assert published.ids(BATCH_TASK) == [ticket.pk]  # the second finds the doorbell rung
    assert published.ids(PROCESS_TASK) == []


def test_seats_in_flight_are_capped_per_client_whatever_the_token(api_client, settings):
    settings.HOLD_CAP_PER_CLIENT = 3
    ticket = TicketFactory()
    first = api_client.post(CREATE_URL, body(ticket, payment_token=""), format="json")
    over = api_client.post(CREATE_URL, body(ticket, payment_token=""), format="json")
    assert (first.status_code, over.status_code) == (202, 429)
    assert over.json()["code"] == "hold_limit_reached"
    tokened = api_client.post(CREATE_URL, body(ticket), format="json")
    assert tokened.status_code == 429


def test_an_out_of_range_ticket_id_is_unavailable_not_a_server_error(api_client):
    response = api_client.post(CREATE_URL, body(TicketFactory(), ticket_id=2**63), format="json")
    assert response.status_code == 400 and "ticket_id" in response.json()


def test_on_sale_means_what_the_catalog_means(api_client):
    now = timezone.now()
    hour = timedelta(hours=1)
    tickets = [
        TicketFactory(),
        TicketFactory(is_on_sale=False),
        TicketFactory(starts_at=now - hour),
        TicketFactory(sale_starts_at=now + hour),
        TicketFactory(sale_starts_at=now - hour),
        TicketFactory(sale_ends_at=now - hour),
        TicketFactory(sale_ends_at=now + hour),
        TicketFactory(sale_starts_at=now - hour, sale_ends_at=now + hour),
        TicketFactory(sale_starts_at=now + hour, sale_ends_at=now + 2 * hour),
    ]
    on_sale = set(tickets_on_sale().values_list("pk", flat=True))
    for ticket in tickets:
        response = api_client.post(CREATE_URL, body(ticket), format="json")
        expected = 202 if ticket.pk in on_sale else 400
        assert response.status_code == expected, ticket.__dict__
    assert TicketPurchase.objects.count() == len(on_sale) == 4


# --- sold out ---------------------------------------------------------------------------------


def sold_out_ticket(free: int = 0):
    return TicketFactory(total_quantity=10, available_quantity=free)


def test_sold_out_is_409_and_stores_nothing(api_client):
    ticket = sold_out_ticket(free=1)
    response = api_client.post(
        CREATE_URL, body(ticket, quantity=2), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 409
    assert response.json() == {
        "detail": (
            "Sold out: no seats are left for this ticket, and none are held by pending "
            "purchases that could give them back."
        ),
        "code": "sold_out",
    }
    assert not TicketPurchase.objects.exists() and not PurchaseEvent.objects.exists()
    assert not IdempotencyKey.objects.exists()  # the key is free again
    assert api_client.post(CREATE_URL, body(ticket, quantity=1), format="json").status_code == 202


def test_seats_held_by_a_pending_purchase_may_come_back_so_it_is_accepted(api_client):
    ticket = sold_out_ticket()
    PurchaseFactory(ticket=ticket, inventory_reserved=True)
    assert api_client.post(CREATE_URL, body(ticket), format="json").status_code == 202


def test_purchases_only_waiting_in_the_queue_hold_nothing(api_client):
    ticket = sold_out_ticket()
    PurchaseFactory(ticket=ticket, inventory_reserved=False)  # queued: decided later, sold out
    PurchaseFactory(ticket=ticket, inventory_reserved=True, status=Status.CONFIRMED)
    response = api_client.post(CREATE_URL, body(ticket), format="json")
    assert response.status_code == 409 and response.json()["code"] == "sold_out"
    assert TicketPurchase.objects.count() == 2


def test_a_ticket_not_on_sale_is_unavailable_even_when_sold_out(api_client):
    ticket = TicketFactory(total_quantity=10, available_quantity=0, is_on_sale=False)
    response = api_client.post(CREATE_URL, body(ticket), format="json")
    assert response.status_code == 400 and "ticket_id" in response.json()


@on_postgresql
def test_sold_out_costs_one_statement_on_postgresql(api_client):
    ticket = sold_out_ticket()
    with CaptureQueriesContext(connection) as queries:
        response = api_client.post(CREATE_URL, body(ticket), format="json")
    assert response.status_code == 409
    assert len(queries) == 1


# --- idempotency on the lean path --------------------------------------------------------------


def test_a_replay_answers_the_stored_reply_and_rings_nothing(
    api_client, published, django_capture_on_commit_callbacks
):
    ticket = TicketFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = api_client.post(CREATE_URL, body(ticket), format="json", HTTP_IDEMPOTENCY_KEY="k")
    redis_client().delete(f"doorbell:ticket-batch:{ticket.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        again = api_client.post(CREATE_URL, body(ticket), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert published.ids(BATCH_TASK) == [ticket.pk]
    stored = IdempotencyKey.objects.get(key="k")
    assert str(stored.purchase_id) == first.json()["purchase_id"]
    assert int(redis_client().hget(f"tickets:queue:{ticket.pk}", "accepted")) == 1


# --- polling --------------------------------------------------------------------------------


def status_url(purchase) -> str:
    return f"/api/tickets/purchase/{purchase.pk}/status/"


def test_the_status_is_one_row_by_primary_key_without_order_by(api_client):
    purchase = PurchaseFactory()
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(status_url(purchase))
    assert response.status_code == 200
    [query] = queries
    assert "ORDER BY" not in query["sql"].upper()
    assert "LIMIT 1" in query["sql"].upper()
    # Waiting, with no line recorded for it: it counts as the only one in line.
    waiting_room = {"queue_position": 0, "estimated_wait_seconds": None, "waiting_list": None}
    assert response.json() == {**as_json(PurchaseStatusSerializer(purchase).data), **waiting_room}


def test_a_purchase_waiting_in_its_queue_is_told_how_long_the_queue_takes(api_client):
    purchase = PurchaseFactory(inventory_reserved=False)
    redis_client().hset(
        f"tickets:queue:{purchase.ticket_id}", mapping={"accepted": 40, "decided": 10, "rate": "3"}
    )
    assert waiting_room.retry_after(purchase.ticket_id) == 10
    response = api_client.get(status_url(purchase))
    assert response["Retry-After"] == "10"
    unchanged = api_client.get(status_url(purchase), HTTP_IF_NONE_MATCH=response["ETag"])
    assert unchanged.status_code == 304 and unchanged["Retry-After"] == "10"


def test_a_purchase_past_the_queue_polls_every_second_and_a_final_one_not_at_all(api_client):
    purchase = purchase_reserve(purchase_id=PurchaseFactory().pk)
    redis_client().hset(
        f"tickets:queue:{purchase.ticket_id}", mapping={"accepted": 40, "decided": 10, "rate": "3"}
    )
    response = api_client.get(status_url(purchase))
    assert response["Retry-After"] == "1" and response["Cache-Control"] == "no-cache"
    purchase_fail(purchase_id=purchase.pk, reason="payment_declined")
    final = api_client.get(status_url(purchase))
    assert final.json()["status"] == "failed" and "Retry-After" not in final


# --- the waiting room -------------------------------------------------------------------


def test_each_waiting_purchase_is_told_its_place_in_line_and_the_wait(api_client, published):
    ticket = TicketFactory(total_quantity=100)
    urls = [
        api_client.post(CREATE_URL, body(ticket, quantity=1), format="json")["Location"]
        for _ in range(5)
    ]
    before = [api_client.get(url).json() for url in urls]
    assert [poll["queue_position"] for poll in before] == [0, 1, 2, 3, 4]
    assert {poll["estimated_wait_seconds"] for poll in before} == {None}  # no rate measured yet

    first_two = [poll["purchase_id"] for poll in before[:2]]
    waiting_room.note_decided(
        ticket.pk, count=2, seconds=1.0, drained=False, purchase_ids=first_two
    )

    after = [api_client.get(url) for url in urls[2:]]
    assert [poll.json()["queue_position"] for poll in after] == [0, 1, 2]
    # 2 decided per second: the last, 2 behind, is decided within 3 / 2 s.
    assert [poll.json()["estimated_wait_seconds"] for poll in after] == [1, 1, 2]
    assert [poll["Retry-After"] for poll in after] == ["1", "1", "2"]


def test_a_move_up_the_line_is_news_to_a_poller_holding_the_old_etag(api_client, published):
    ticket = TicketFactory(total_quantity=100)
    first, second = (
        api_client.post(CREATE_URL, body(ticket, quantity=1), format="json") for _ in range(2)
    )
    seen = api_client.get(second["Location"])
    assert seen.json()["queue_position"] == 1
    unchanged = api_client.get(second["Location"], HTTP_IF_NONE_MATCH=seen["ETag"])
    assert unchanged.status_code == 304

    decided = [first.json()["purchase_id"]]
    waiting_room.note_decided(ticket.pk, count=1, seconds=0.5, drained=False, purchase_ids=decided)

    moved = api_client.get(second["Location"], HTTP_IF_NONE_MATCH=seen["ETag"])
    assert moved.status_code == 200 and moved.json()["queue_position"] == 0


def test_a_decided_purchase_is_answered_by_the_database_with_no_place_in_line(
    api_client, published
):
    ticket = TicketFactory(total_quantity=100)
    hold = body(ticket, quantity=1, payment_token="")  # seated, then waits for its payment
    url = api_client.post(CREATE_URL, hold, format="json")["Location"]
    ticket_process_batches(ticket_id=ticket.pk)

    # Redis no longer knows it in line (tickets/line.py): the database answers,
    # and the queue's hash is not read for a place.
    with CaptureQueriesContext(connection) as queries:
        seated = api_client.get(url).json()
    assert len(queries) == 1

    assert seated["status"] == "pending" and TicketPurchase.objects.get().inventory_reserved
    assert seated["queue_position"] is None and seated["estimated_wait_seconds"] is None


def test_without_redis_a_poll_still_answers_without_a_place(api_client, published, monkeypatch):
    purchase = PurchaseFactory(inventory_reserved=False)

    def redis_down():
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(waiting_room, "redis_client", redis_down)
    response = api_client.get(status_url(purchase))
    assert response.status_code == 200 and response["Retry-After"] == "1"
    assert response.json()["queue_position"] is None


def test_far_back_in_line_a_poller_still_comes_back_every_few_seconds(api_client, settings):
    settings.QUEUE_POLL_MAX_SECONDS = 4
    purchase = PurchaseFactory(inventory_reserved=False)
    redis_client().hset(
        f"tickets:queue:{purchase.ticket_id}", mapping={"accepted": 200, "decided": 0, "rate": "2"}
    )
    response = api_client.get(status_url(purchase))
    # 199 ahead at 2/s: its turn is 100 s away, but the place it shows moves sooner.
    assert response.json()["estimated_wait_seconds"] == 100
    assert response["Retry-After"] == "4"
