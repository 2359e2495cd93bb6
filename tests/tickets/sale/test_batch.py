"""The batched pipeline: a ticket's waiting purchases are decided together, in
order, with a constant number of statements per batch."""

import threading
import uuid
from datetime import timedelta

import pytest
import redis
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from redis.client import Pipeline

from gateways import ChargeRequest
from gateways.simulated import SimulatedGateway
from project.tasks import BATCH_TASK, PROCESS_TASK
from tests.factories import PurchaseFactory, TicketFactory, purchase_request
from tickets.delivery.mailer import DELIVER_BATCH_TASK, DOORBELL_KEY
from tickets.models import PurchaseEvent, TicketCode, TicketPurchase
from tickets.sale import accept, batch, doorbell, waiting_room
from tickets.sale.payment import ticket_process_batches
from tickets.sale.purchases import purchase_create

pytestmark = pytest.mark.django_db

Status = TicketPurchase.Status


def waiting(ticket, count: int, **kwargs) -> list[TicketPurchase]:
    """`count` purchases accepted one after the other (oldest first)."""
    start = timezone.now() - timedelta(seconds=count)
    purchases = [PurchaseFactory(ticket=ticket, quantity=1, **kwargs) for _ in range(count)]
    for n, purchase in enumerate(purchases):
        TicketPurchase.objects.filter(pk=purchase.pk).update(
            created_at=start + timedelta(seconds=n)
        )
    return purchases


def statuses(purchases) -> list[tuple[str, str | None]]:
    by_id = {p.pk: p for p in TicketPurchase.objects.filter(pk__in=[p.pk for p in purchases])}
    return [(by_id[p.pk].status, by_id[p.pk].failure_reason) for p in purchases]


def test_a_batch_seats_the_oldest_first_and_fails_the_rest_as_sold_out(
    published, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(total_quantity=3)
    purchases = waiting(ticket, 5)

    with django_capture_on_commit_callbacks(execute=True):
        assert ticket_process_batches(ticket_id=ticket.pk) == 3
    # The two behind waited while the three charges could still be declined;
    # once those are sold the line is rung, and the next batch tells them.
    assert statuses(purchases) == [("confirmed", None)] * 3 + [("pending", None)] * 2
    assert published.ids(BATCH_TASK) == [ticket.pk]
    with django_capture_on_commit_callbacks(execute=True):
        assert ticket_process_batches(ticket_id=ticket.pk) == 2

    assert statuses(purchases) == [("confirmed", None)] * 3 + [("failed", "sold_out")] * 2
    ticket.refresh_from_db()
    assert ticket.available_quantity == 0
    assert TicketCode.objects.filter(purchase__ticket=ticket).count() == 3
    assert published.ids(DELIVER_BATCH_TASK) == [DOORBELL_KEY]  # one doorbell for the batch
    trail = PurchaseEvent.objects.filter(purchase=purchases[0]).values_list("action", flat=True)
    assert list(trail) == ["seats reserved", "confirmed"]
    assert PurchaseEvent.objects.get(purchase=purchases[4]).note == "sold_out"


def test_a_purchase_too_big_for_what_is_left_does_not_block_smaller_ones_behind_it(published):
    ticket = TicketFactory(total_quantity=3)
    big, small = (
        PurchaseFactory(ticket=ticket, quantity=4),
        PurchaseFactory(ticket=ticket, quantity=3),
    )
    ticket_process_batches(ticket_id=ticket.pk)
    assert statuses([big, small]) == [("failed", "sold_out"), ("confirmed", None)]


def test_declined_and_failing_cards_in_a_batch(published, django_capture_on_commit_callbacks):
    ticket = TicketFactory(total_quantity=10)
    ok = waiting(ticket, 2)
    declined = PurchaseFactory(ticket=ticket, quantity=2, payment_token="tok_decline")
    flaky = PurchaseFactory(ticket=ticket, quantity=1, payment_token="tok_error")

    with django_capture_on_commit_callbacks(execute=True):
        ticket_process_batches(ticket_id=ticket.pk)

    assert statuses([*ok, declined]) == [("confirmed", None)] * 2 + [("failed", "payment_declined")]
    flaky.refresh_from_db()
    # A transient error goes to the purchase's own task, seats held, charge processing.
    assert (flaky.status, flaky.payment_status, flaky.inventory_reserved) == (
        "pending",
        "processing",
        True,
    )
    assert published.ids(PROCESS_TASK) == [str(flaky.pk)]
    ticket.refresh_from_db()
    assert ticket.available_quantity == 10 - 2 - 1  # the declined seats came back


def test_unpaid_holds_are_seated_but_not_charged_and_respect_their_cap(published, settings):
    settings.UNPAID_HOLDS_MAX_PERCENT = 50
    ticket = TicketFactory(total_quantity=4)
    first, second = (PurchaseFactory(ticket=ticket, quantity=2, payment_token="") for _ in "ab")
    ticket_process_batches(ticket_id=ticket.pk)
    first.refresh_from_db()
    assert (first.status, first.inventory_reserved, first.holds_unpaid) == ("pending", True, True)
    assert first.payment_status == "pending"
    assert statuses([second]) == [("failed", "unpaid_holds_full")]
    ticket.refresh_from_db()
    assert (ticket.available_quantity, ticket.unpaid_held_quantity) == (2, 2)


def test_statements_per_batch_do_not_grow_with_the_batch(published):
    def statements(count: int) -> int:
        ticket = TicketFactory(total_quantity=count)
        waiting(ticket, count)
        with CaptureQueriesContext(connection) as queries:
            ticket_process_batches(ticket_id=ticket.pk)
        assert (
            TicketPurchase.objects.filter(ticket=ticket, status=Status.CONFIRMED).count() == count
        )
        return len(queries)

    assert statements(40) == statements(5)


def test_a_second_run_changes_nothing(published):
    ticket = TicketFactory(total_quantity=2)
    purchases = waiting(ticket, 3)
    ticket_process_batches(ticket_id=ticket.pk)
    ticket_process_batches(ticket_id=ticket.pk)  # the one left in line is sold out
    assert statuses(purchases)[2] == ("failed", "sold_out")
    before = statuses(purchases), TicketCode.objects.count(), PurchaseEvent.objects.count()
    assert ticket_process_batches(ticket_id=ticket.pk, resume=True) == 0
    assert (
        statuses(purchases),
        TicketCode.objects.count(),
        PurchaseEvent.objects.count(),
    ) == before


def test_resume_settles_charges_a_dead_worker_left_in_flight(published):
    ticket = TicketFactory(total_quantity=5)
    purchases = waiting(ticket, 3)
    reserved = batch.reserve_batch(ticket.pk, size=10)  # then the worker died
    assert len(reserved.to_charge) == 3
    # One of them had reached the gateway before the crash.
    SimulatedGateway().charge_batch([ChargeRequest(str(purchases[0].pk), 80, "USD", "tok_success")])

    ticket_process_batches(ticket_id=ticket.pk, resume=True)

    assert statuses(purchases) == [("confirmed", None)] * 3
    for purchase in purchases:
        assert SimulatedGateway().captures(str(purchase.pk)) == 1
    ticket.refresh_from_db()
    assert ticket.available_quantity == 2


def test_batches_are_bounded_by_batch_size(published, settings):
    settings.BATCH_SIZE = 4
    ticket = TicketFactory(total_quantity=20)
    purchases = waiting(ticket, 10)
    assert ticket_process_batches(ticket_id=ticket.pk) == 10
    assert statuses(purchases) == [("confirmed", None)] * 10


def test_accepting_many_rings_the_ticket_doorbell_once(
    published, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(total_quantity=10)
    for n in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            purchase_create(
                ticket_id=ticket.pk,
                quantity=1,
                customer_name="Ann",
                customer_email=f"ann{n}@example.com",
                payment_method="card",
                payment_token="tok_success",
            )
    assert published.ids(BATCH_TASK) == [ticket.pk]
    # The worker answers before it claims: the next purchase rings again.
    ticket_process_batches(ticket_id=ticket.pk)
    assert doorbell.batch_ring(ticket.pk) is True
    assert published.ids(BATCH_TASK) == [ticket.pk, ticket.pk]


def test_a_purchase_accepted_while_the_worker_lingers_rings_nothing_and_is_decided(
    published, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The doorbell is answered after the linger: a commit meanwhile finds it
    still rung, so one task decides the whole burst (no second, smaller batch)."""
    from tickets.sale import payment

    settings.BATCH_LINGER_MS = 50
    ticket = TicketFactory(total_quantity=10)
    first = waiting(ticket, 1)[0]
    assert doorbell.batch_ring(ticket.pk) is True  # as the first purchase's commit rang
    arrived = []

    def linger(seconds):
        with django_capture_on_commit_callbacks(execute=True):
            arrived.append(purchase_create(**purchase_request(ticket)))

    monkeypatch.setattr(payment.time, "sleep", linger)
    assert ticket_process_batches(ticket_id=ticket.pk) == 2
    assert published.ids(BATCH_TASK) == [ticket.pk]  # the arrival rang no task of its own
    assert statuses([first, *arrived]) == [("confirmed", None)] * 2
    assert doorbell.batch_ring(ticket.pk) is True  # answered: the next purchase rings


def test_the_queue_counters_give_a_retry_after_from_depth_and_drain_rate(published):
    ticket = TicketFactory(total_quantity=100)
    for _ in range(30):
        waiting_room.note_accepted(ticket.pk, uuid.uuid4())
    waiting_room.note_decided(ticket.pk, count=10, seconds=1.0, drained=False)  # 10/s
    assert waiting_room.retry_after(ticket.pk) == 2  # 20 left at 10/s
    waiting_room.note_decided(ticket.pk, count=10, seconds=1.0, drained=True)
    assert waiting_room.retry_after(ticket.pk) == waiting_room.RETRY_AFTER_MIN_SECONDS


def test_an_accepted_purchase_is_counted_and_rings_in_one_redis_round_trip(published, monkeypatch):
    ticket = TicketFactory(total_quantity=100)
    waiting_room.note_decided(ticket.pk, count=10, seconds=1.0, drained=False)  # 10/s
    round_trips = []
    execute = Pipeline.execute
    monkeypatch.setattr(
        Pipeline, "execute", lambda pipe, *a, **kw: round_trips.append(1) or execute(pipe, *a, **kw)
    )

    waits = [batch.batch_accepted(ticket.pk, uuid.uuid4()) for _ in range(31)]

    assert len(round_trips) == 31
    assert published.ids(BATCH_TASK) == [ticket.pk]  # one doorbell for them all
    assert waits[-1] == 3  # 31 accepted - 10 decided = 21 ahead at 10/s
    assert waiting_room.retry_after(ticket.pk) == 3


def test_accepting_without_redis_answers_the_shortest_wait_and_rings_nothing(
    published, monkeypatch, caplog
):
    def redis_down(pipe, *args, **kwargs):
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")

    monkeypatch.setattr(Pipeline, "execute", redis_down)

    assert (
        batch.batch_accepted(TicketFactory().pk, uuid.uuid4())
        == waiting_room.RETRY_AFTER_MIN_SECONDS
    )
    assert published == []
    assert "its sweep will re-enqueue it" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_batch_holding_the_ticket_row_does_not_hold_up_new_purchases(monkeypatch):
    if not connection.features.has_select_for_no_key_update:
        pytest.skip("SQLite serialises writers")
    ticket = TicketFactory(total_quantity=10)
    waiting(ticket, 2)
    holding, release = threading.Event(), threading.Event()
    seat_in_order = batch._seat_in_order

    def seat_slowly(purchases, locked_ticket):
        holding.set()  # the ticket row is locked now, until the batch commits
        release.wait(10)
        return seat_in_order(purchases, locked_ticket)

    monkeypatch.setattr(batch, "_seat_in_order", seat_slowly)

    def a_batch() -> None:
        try:
            batch.reserve_batch(ticket.pk, size=10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=a_batch)
    thread.start()
    try:
        assert holding.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        try:
            stored = accept.purchase_store(
                ticket_id=ticket.pk,
                quantity=1,
                customer_name="Late Buyer",
                customer_email="late@example.com",
                payment_method="card",
                payment_token="tok_success",
            )
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    finally:
        release.set()
        thread.join()

    assert TicketPurchase.objects.get(pk=stored["purchase_id"]).status == Status.PENDING
