"""Gateway webhooks: a signed callback is stored once and handed to a worker that
asks the gateway for the truth; forged, stale and replayed callbacks change nothing."""

import json
import logging
import time

import pytest

from gateways import TransientGatewayError
from gateways.models import WebhookEvent
from gateways.simulated import SimulatedGateway
from payments.models import Payment
from project.tasks import WEBHOOK_EVENT_TASK
from tests.factories import PurchaseFactory, TicketFactory
from tests.payments.factories import payment_of
from tests.waiting import wait_until_final
from tickets.models import Ticket, TicketPurchase
from tickets.sale.purchases import purchase_reserve
from workers.webhook_tasks import process_webhook_event

URL = "/api/payments/webhooks/simulated/"
SECRET = "test-webhook-secret"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.PAYMENT_WEBHOOK_SECRET = SECRET


@pytest.fixture
def gateway():
    return SimulatedGateway()


def reserved_purchase(**overrides) -> TicketPurchase:
    """A pending purchase holding its seats, paid (or not) outside our API: its
    outcome is at the gateway only, as after a hosted payment page."""
    purchase = PurchaseFactory(payment_token="", **overrides)
    return purchase_reserve(purchase_id=purchase.pk)


def post(client, headers: dict, body: bytes):
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    return client.post(URL, data=body, content_type="application/json", **meta)


def send(client, gateway, payload: dict, **signing):
    headers, body = gateway.sign_callback(payload, **signing)
    return post(client, headers, body)


def event_for(gateway, purchase, **kwargs) -> dict:
    return gateway.callback_event(kind="ticket_purchase", object_id=purchase.pk, **kwargs)


def status_of(purchase) -> tuple[str, str]:
    purchase.refresh_from_db()
    return purchase.status, purchase.payment_status


@pytest.mark.django_db
def test_a_signed_event_is_stored_enqueued_once_and_confirms_the_purchase(
    api_client, gateway, django_capture_on_commit_callbacks
):
    purchase = reserved_purchase()
    gateway.record(
        idempotency_key=str(purchase.pk), amount=purchase.total_amount, currency="USD", succeed=True
    )
    payload = event_for(gateway, purchase)

    with django_capture_on_commit_callbacks() as enqueued:
        response = send(api_client, gateway, payload)

    assert response.status_code == 202
    assert response.json() == {"event_id": payload["id"], "duplicate": False}
    assert len(enqueued) == 1
    event = WebhookEvent.objects.get()
    assert (event.gateway, event.event_id, event.kind) == (
        "simulated",
        payload["id"],
        "ticket_purchase",
    )
    assert event.object_id == str(purchase.pk) and event.payload == payload
    assert event.processed_at is None
    assert status_of(purchase) == ("pending", "pending")  # nothing done in the request

    process_webhook_event.apply(args=[event.pk])

    assert status_of(purchase) == ("confirmed", "completed")
    assert purchase.codes.count() == purchase.quantity
    event.refresh_from_db()
    assert event.processed_at is not None and "confirmed" in event.result


@pytest.mark.django_db
def test_the_worker_trusts_the_gateway_not_the_event(api_client, gateway):
    purchase = reserved_purchase()
    gateway.record(
        idempotency_key=str(purchase.pk),
        amount=purchase.total_amount,
        currency="USD",
        succeed=False,
    )
    payload = event_for(gateway, purchase, event_type="payment.succeeded")
    payload["data"]["status"] = "captured"  # a claim the gateway's own records contradict

    assert send(api_client, gateway, payload).status_code == 202
    process_webhook_event.apply(args=[WebhookEvent.objects.get().pk])

    purchase.refresh_from_db()
    assert (purchase.status, purchase.failure_reason) == ("failed", "payment_declined")
    assert not purchase.codes.exists()


@pytest.mark.django_db
def test_an_event_about_a_payment_the_gateway_never_saw_changes_nothing(api_client, gateway):
    purchase = reserved_purchase()
    assert send(api_client, gateway, event_for(gateway, purchase)).status_code == 202
    process_webhook_event.apply(args=[WebhookEvent.objects.get().pk])
    assert status_of(purchase) == ("pending", "pending")
    assert WebhookEvent.objects.get().processed_at is not None


@pytest.mark.django_db
def test_a_redelivered_event_is_200_and_nothing_is_done_again(
    api_client, gateway, django_capture_on_commit_callbacks
):
    purchase = reserved_purchase()
    headers, body = gateway.sign_callback(event_for(gateway, purchase))
    with django_capture_on_commit_callbacks() as first:
        assert post(api_client, headers, body).status_code == 202

    with django_capture_on_commit_callbacks() as second:
        replay = post(api_client, headers, body)
        resigned = send(api_client, gateway, json.loads(body))  # same id, fresh signature

    for response in (replay, resigned):
        assert response.status_code == 200
        assert response.json()["duplicate"] is True
    assert len(first) == 1 and second == []
    assert WebhookEvent.objects.count() == 1


@pytest.mark.django_db
def test_processing_an_event_twice_does_the_work_once(api_client, gateway):
    purchase = reserved_purchase()
    gateway.record(
        idempotency_key=str(purchase.pk), amount=purchase.total_amount, currency="USD", succeed=True
    )
    send(api_client, gateway, event_for(gateway, purchase))
    event = WebhookEvent.objects.get()
    process_webhook_event.apply(args=[event.pk])
    first = TicketPurchase.objects.get(pk=purchase.pk)
    event.refresh_from_db()
    processed_at = event.processed_at

    process_webhook_event.apply(args=[event.pk])

    second = TicketPurchase.objects.get(pk=purchase.pk)
    assert first.updated_at == second.updated_at and second.codes.count() == purchase.quantity
    event.refresh_from_db()
    assert event.processed_at == processed_at


def _assert_refused(response, status: int, code: str, purchase=None) -> None:
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert not WebhookEvent.objects.exists()
    if purchase is not None:
        assert status_of(purchase) == ("pending", "pending")


@pytest.mark.django_db
def test_a_forged_signature_is_403_and_changes_nothing(api_client, gateway):
    purchase = reserved_purchase()
    payload = event_for(gateway, purchase)
    response = send(api_client, gateway, payload, secret="not-the-shared-secret")
    _assert_refused(response, 403, "signature_invalid", purchase)


@pytest.mark.django_db
def test_a_body_changed_after_signing_is_403(api_client, gateway):
    purchase = reserved_purchase()
    headers, body = gateway.sign_callback(event_for(gateway, purchase))
    tampered = body.replace(b"ticket_purchase", b"booking_payment")
    _assert_refused(post(api_client, headers, tampered), 403, "signature_invalid", purchase)


@pytest.mark.django_db
def test_a_signature_moved_to_another_timestamp_is_403(api_client, gateway):
    purchase = reserved_purchase()
    headers, body = gateway.sign_callback(event_for(gateway, purchase))
    headers["X-Signature-Timestamp"] = str(int(headers["X-Signature-Timestamp"]) + 1)
    _assert_refused(post(api_client, headers, body), 403, "signature_invalid", purchase)


@pytest.mark.django_db
@pytest.mark.parametrize("missing", ["X-Signature", "X-Signature-Timestamp"])
def test_an_unsigned_event_is_401(api_client, gateway, missing):
    headers, body = gateway.sign_callback(event_for(gateway, reserved_purchase()))
    del headers[missing]
    _assert_refused(post(api_client, headers, body), 401, "signature_missing")


@pytest.mark.django_db
@pytest.mark.parametrize("stamp", ["yesterday", "-5", "1e9", "\u0661\u0667" + "\u0660" * 8])
def test_a_timestamp_that_is_not_unix_seconds_is_403(api_client, gateway, stamp):
    payload = event_for(gateway, reserved_purchase())
    headers, body = gateway.sign_callback(payload)
    headers["X-Signature-Timestamp"] = stamp
    _assert_refused(post(api_client, headers, body), 403, "signature_invalid")


@pytest.mark.django_db
# Ten seconds past the window each way: a slow run never drifts back inside it.
@pytest.mark.parametrize("offset", [-310, 310, -3600 * 24])
def test_a_stale_or_future_timestamp_is_403_even_when_signed(api_client, gateway, offset):
    purchase = reserved_purchase()
    payload = event_for(gateway, purchase)
    response = send(api_client, gateway, payload, timestamp=int(time.time()) + offset)
    _assert_refused(response, 403, "timestamp_out_of_range", purchase)


@pytest.mark.django_db
@pytest.mark.parametrize("offset", [-290, 290])
def test_a_timestamp_within_the_window_is_accepted(api_client, gateway, offset):
    payload = event_for(gateway, reserved_purchase())
    response = send(api_client, gateway, payload, timestamp=int(time.time()) + offset)
    assert response.status_code == 202


@pytest.mark.django_db
def test_without_a_configured_secret_every_event_is_refused(api_client, gateway, settings):
    settings.PAYMENT_WEBHOOK_SECRET = ""
    payload = event_for(gateway, reserved_purchase())
    response = send(api_client, gateway, payload, secret="")
    _assert_refused(response, 403, "webhooks_not_configured")


@pytest.mark.django_db
def test_an_unknown_gateway_is_404(api_client, gateway):
    headers, body = gateway.sign_callback(event_for(gateway, reserved_purchase()))
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    response = api_client.post(
        "/api/payments/webhooks/acme/", data=body, content_type="application/json", **meta
    )
    assert response.status_code == 404
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"id": "evt_1"}',
        b'{"id": "evt_1", "data": {"kind": "ticket_purchase", "id": "not-a-uuid"}}',
        b'{"data": {"kind": "ticket_purchase", "id": "00000000-0000-0000-0000-000000000000"}}',
    ],
)
def test_a_signed_body_that_is_not_an_event_is_400(api_client, body):
    from gateways.signing import webhook_signature

    stamp = str(int(time.time()))
    headers = {
        "X-Signature-Timestamp": stamp,
        "X-Signature": webhook_signature(secret=SECRET, timestamp=stamp, body=body),
    }
    response = post(api_client, headers, body)
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_an_event_of_an_unknown_kind_is_accepted_and_ignored(api_client, gateway):
    payload = gateway.callback_event(
        kind="payout", object_id="00000000-0000-0000-0000-000000000001"
    )
    assert send(api_client, gateway, payload).status_code == 202
    event = WebhookEvent.objects.get()
    process_webhook_event.apply(args=[event.pk])
    event.refresh_from_db()
    assert event.processed_at is not None and event.result.startswith("ignored")


@pytest.mark.django_db
def test_an_event_about_an_unknown_purchase_is_ignored(api_client, gateway):
    payload = gateway.callback_event(
        kind="ticket_purchase", object_id="00000000-0000-0000-0000-000000000002"
    )
    send(api_client, gateway, payload)
    event = WebhookEvent.objects.get()
    assert process_webhook_event.apply(args=[event.pk]).successful()
    event.refresh_from_db()
    assert event.result.startswith("ignored: no ticket_purchase")


@pytest.mark.django_db
def test_a_booking_payment_event_reconciles_the_booking(api_client, gateway):
    payment = payment_of(payment__payment_token="")
    gateway.record(
        idempotency_key=str(payment.pk), amount=payment.amount, currency="USD", succeed=True
    )
    seats = list(Ticket.objects.values_list("available_quantity", flat=True))
    payload = gateway.callback_event(kind="booking_payment", object_id=payment.pk)

    assert send(api_client, gateway, payload).status_code == 202
    process_webhook_event.apply(args=[WebhookEvent.objects.get().pk])

    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert payment.booking.status == "confirmed"
    assert list(Ticket.objects.values_list("available_quantity", flat=True)) == seats
    assert not TicketPurchase.objects.exists()


@pytest.mark.django_db
def test_a_gateway_that_keeps_failing_is_retried_a_bounded_number_of_times(
    api_client, gateway, monkeypatch, caplog
):
    calls = []

    def unreachable(self, **kwargs):
        calls.append(kwargs)
        raise TransientGatewayError("gateway down")

    purchase = reserved_purchase()
    send(api_client, gateway, event_for(gateway, purchase))
    event = WebhookEvent.objects.get()
    monkeypatch.setattr(SimulatedGateway, "lookup", unreachable)

    with caplog.at_level(logging.ERROR, logger="workers.webhook_tasks"):
        result = process_webhook_event.apply(args=[event.pk])

    assert result.successful()
    assert len(calls) == 1 + process_webhook_event.max_retries
    assert f"webhook event {event.pk}" in caplog.text
    event.refresh_from_db()
    assert event.processed_at is None  # left for the stuck-payment sweep
    assert status_of(purchase) == ("pending", "pending")


@pytest.mark.django_db(transaction=True)
def test_the_whole_path_through_a_real_worker(worker, api_client, gateway):
    ticket = TicketFactory(total_quantity=5)
    created = api_client.post(
        "/api/tickets/purchase/direct/",
        {
            "ticket_id": ticket.pk,
            "quantity": 2,
            "customer_name": "Ann",
            "customer_email": "ann@example.com",
            "payment_method": "card",
        },
        format="json",
    )
    assert created.status_code == 202
    purchase_id = created.json()["purchase_id"]
    deadline = time.monotonic() + 30
    while not TicketPurchase.objects.get(pk=purchase_id).inventory_reserved:
        assert time.monotonic() < deadline, "the worker never reserved the seats"
        time.sleep(0.2)
    # The buyer pays on the gateway's own page; the gateway then calls us back.
    gateway.record(idempotency_key=purchase_id, amount=160, currency="USD", succeed=True)
    payload = gateway.callback_event(kind="ticket_purchase", object_id=purchase_id)
    headers, body = gateway.sign_callback(payload)

    assert post(api_client, headers, body).status_code == 202
    assert post(api_client, headers, body).status_code == 200

    [purchase] = wait_until_final([purchase_id])
    assert purchase.status == TicketPurchase.Status.COMPLETED
    assert purchase.codes.count() == 2
    assert gateway.captures(purchase_id) == 1
    ticket.refresh_from_db()
    assert ticket.available_quantity == 3
    event = WebhookEvent.objects.get()
    assert event.processed_at is not None


@pytest.mark.django_db
def test_a_stored_event_whose_task_was_lost_is_processed_again(
    published, settings, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from gateways import webhooks

    event = WebhookEvent.objects.create(
        gateway="simulated", event_id="evt_lost", kind="ticket_purchase", payload={}
    )
    WebhookEvent.objects.create(
        gateway="simulated",
        event_id="evt_done",
        kind="ticket_purchase",
        payload={},
        processed_at=timezone.now(),
    )
    assert webhooks.webhook_events_requeue_unprocessed() == 0
    later = timezone.now() + timedelta(seconds=settings.REQUEUE_AFTER_SECONDS + 1)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        assert webhooks.webhook_events_requeue_unprocessed() == 1
    assert published.ids(WEBHOOK_EVENT_TASK) == [event.pk]
