"""Stripe's webhooks and the 3-D Secure wait, with Stripe played by recorded
responses: a signed event is stored once and the worker retrieves the
PaymentIntent it names (the body is never trusted), so duplicates and events
out of order change nothing; a purchase waiting for authentication says so,
with its client secret, to the holder of its id only."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from gateways import webhooks
from gateways.models import StripeCharge, StripeRefund, WebhookEvent
from payments.services import payment_process
from project.tasks import RECONCILE_TASK
from tests.factories import PurchaseFactory, purchase_request
from tests.gateways import stripe_fakes as fake
from tests.gateways.stripe_fakes import INTENT_ID, REFUND_ID, RecordedStripe
from tests.payments.factories import DestinationFactory, payment_of
from tickets.models import TicketPurchase
from tickets.refunds.services import purchase_refund
from tickets.sale.payment import purchase_charge, purchase_reconcile
from tickets.sale.purchases import purchase_expire, purchase_reserve

URL = "/api/payments/webhooks/stripe/"
SECRET = "whsec_test_current"
RETRIEVE = ("GET", f"/v1/payment_intents/{INTENT_ID}")
CONFIRM = ("POST", f"/v1/payment_intents/{INTENT_ID}/confirm")
CANCEL = ("POST", f"/v1/payment_intents/{INTENT_ID}/cancel")


def waiting_for_3ds(http: RecordedStripe) -> TicketPurchase:
    """A purchase whose card asked for 3-D Secure when it was charged."""
    purchase = PurchaseFactory(payment_token="pm_card_threeDSecure2Required")
    purchase_reserve(purchase_id=purchase.pk)
    http.routes = {
        ("POST", "/v1/payment_intents"): [fake.intent("requires_confirmation")],
        RETRIEVE: [fake.intent("requires_confirmation")],
        CONFIRM: [fake.intent("requires_action")],
    }
    purchase_charge(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    return purchase


def send(client, payload: dict, *, signature: str | None = None, secret: str = SECRET):
    body = json.dumps(payload).encode()
    header = signature if signature is not None else fake.signature(body, secret)
    return client.post(
        URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def process_all() -> list[str]:
    events = WebhookEvent.objects.filter(processed_at__isnull=True).order_by("received_at", "pk")
    return [webhooks.webhook_event_process(event_pk=event.pk).result for event in events]


def status_of(purchase) -> tuple[str, str]:
    purchase.refresh_from_db()
    return purchase.status, purchase.payment_status


# --- 3-D Secure ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_purchase_waiting_for_3ds_shows_its_secret_to_the_holder_of_its_id(
    api_client, stripe_http
):
    purchase = waiting_for_3ds(stripe_http)

    assert (purchase.status, purchase.payment_status) == ("pending", "requires_action")
    assert purchase.inventory_reserved
    status = api_client.get(f"/api/tickets/purchase/{purchase.pk}/status/").json()
    assert status["payment_status"] == "requires_action"
    assert status["client_secret"] == fake.CLIENT_SECRET
    detail = api_client.get(f"/api/tickets/purchase/{purchase.pk}/details/").json()
    assert detail["client_secret"] == fake.CLIENT_SECRET
    assert StripeCharge.objects.get(key=str(purchase.pk)).intent_id == INTENT_ID


@pytest.mark.django_db
def test_authenticated_by_the_buyer_the_webhook_completes_it(api_client, stripe_http):
    purchase = waiting_for_3ds(stripe_http)
    stripe_http.routes[RETRIEVE] = [fake.intent("succeeded")]

    response = send(api_client, fake.event("payment_intent.succeeded", fake.intent("succeeded")))

    assert response.status_code == 202
    event = WebhookEvent.objects.get()
    assert (event.gateway, event.object_id) == ("stripe", str(purchase.pk))
    assert status_of(purchase) == ("pending", "requires_action")  # nothing done in the request
    process_all()
    assert status_of(purchase) == ("confirmed", "completed")
    assert purchase.gateway_reference == INTENT_ID
    assert purchase.codes.count() == purchase.quantity
    status = api_client.get(f"/api/tickets/purchase/{purchase.pk}/status/").json()
    assert status["client_secret"] is None


@pytest.mark.django_db
def test_the_worker_trusts_the_retrieved_intent_not_the_event_body(api_client, stripe_http):
    purchase = waiting_for_3ds(stripe_http)
    failed = fake.intent(
        "requires_payment_method",
        last_payment_error={"code": "payment_intent_authentication_failure"},
    )
    stripe_http.routes[RETRIEVE] = [failed]

    send(api_client, fake.event("payment_intent.succeeded", fake.intent("succeeded")))
    process_all()

    assert status_of(purchase) == ("failed", "failed")
    assert purchase.failure_reason == "payment_declined"
    assert RETRIEVE in stripe_http.paths()


@pytest.mark.django_db
def test_a_duplicate_event_is_200_and_processed_once(api_client, stripe_http):
    purchase = waiting_for_3ds(stripe_http)
    stripe_http.routes[RETRIEVE] = [fake.intent("succeeded")]
    payload = fake.event("payment_intent.succeeded", fake.intent("succeeded"))

    assert send(api_client, payload).status_code == 202
    again = send(api_client, payload)

    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert WebhookEvent.objects.count() == 1
    process_all()
    assert status_of(purchase) == ("confirmed", "completed")


@pytest.mark.django_db
def test_events_out_of_order_change_nothing(api_client, stripe_http):
    purchase = waiting_for_3ds(stripe_http)
    stripe_http.routes[RETRIEVE] = [fake.intent("succeeded")]
    send(
        api_client,
        fake.event("payment_intent.succeeded", fake.intent("succeeded"), event_id="evt_2"),
    )
    process_all()
    codes = sorted(purchase.codes.values_list("code", flat=True))

    # Earlier events, delivered late: the intent, retrieved, still says succeeded.
    for event_id, event_type, status in (
        ("evt_0", "payment_intent.processing", "processing"),
        ("evt_1", "payment_intent.payment_failed", "requires_payment_method"),
        ("evt_3", "payment_intent.canceled", "canceled"),
    ):
        send(api_client, fake.event(event_type, fake.intent(status), event_id=event_id))
    process_all()

    assert status_of(purchase) == ("confirmed", "completed")
    assert sorted(purchase.codes.values_list("code", flat=True)) == codes


@pytest.mark.django_db
def test_a_hold_that_expires_during_3ds_ends_the_purchase_and_a_late_success_is_refunded(
    api_client, stripe_http
):
    purchase = waiting_for_3ds(stripe_http)
    TicketPurchase.objects.filter(pk=purchase.pk).update(
        hold_expires_at=timezone.now() - timedelta(seconds=1)
    )
    purchase_expire(purchase_id=purchase.pk)
    assert status_of(purchase) == ("expired", "failed")
    assert not purchase.inventory_reserved

    # The buyer authenticates after all: the capture goes back.
    stripe_http.routes[RETRIEVE] = [fake.intent("succeeded")]
    stripe_http.routes[("POST", "/v1/refunds")] = [fake.refund("succeeded")]
    send(api_client, fake.event("payment_intent.succeeded", fake.intent("succeeded")))
    process_all()

    assert status_of(purchase) == ("expired", "refunded")
    assert purchase.refund_reason == "captured_after_expired"
    assert StripeRefund.objects.get().key == f"{purchase.pk}:refund"


@pytest.mark.django_db
def test_an_expired_3ds_hold_has_its_charge_cancelled_by_a_worker(
    stripe_http, published, django_capture_on_commit_callbacks
):
    purchase = waiting_for_3ds(stripe_http)
    TicketPurchase.objects.filter(pk=purchase.pk).update(
        hold_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        purchase_expire(purchase_id=purchase.pk)
    assert published.ids(RECONCILE_TASK) == [str(purchase.pk)]

    stripe_http.routes[RETRIEVE] = [fake.intent("requires_action")]
    stripe_http.routes[CANCEL] = [fake.intent("canceled", cancellation_reason="abandoned")]
    purchase_reconcile(purchase_id=purchase.pk)  # what the worker runs

    assert CANCEL in stripe_http.paths()
    assert status_of(purchase) == ("expired", "failed")


@pytest.mark.django_db
def test_a_buyer_who_authenticates_as_the_hold_expires_gets_the_money_back(stripe_http):
    purchase = waiting_for_3ds(stripe_http)
    TicketPurchase.objects.filter(pk=purchase.pk).update(
        hold_expires_at=timezone.now() - timedelta(seconds=1)
    )
    purchase_expire(purchase_id=purchase.pk)
    # Still waiting when the worker looks, captured by the time it cancels.
    stripe_http.routes[RETRIEVE] = [fake.intent("requires_action"), fake.intent("succeeded")]
    stripe_http.routes[("POST", "/v1/refunds")] = [fake.refund("succeeded")]

    purchase_reconcile(purchase_id=purchase.pk)

    assert CANCEL not in stripe_http.paths()
    assert status_of(purchase) == ("expired", "refunded")
    assert stripe_http.paths().count(("POST", "/v1/refunds")) == 1


@pytest.mark.django_db
def test_charge_refunded_settles_a_pending_refund(api_client, stripe_http, settings):
    purchase = waiting_for_3ds(stripe_http)
    stripe_http.routes[RETRIEVE] = [fake.intent("succeeded")]
    send(api_client, fake.event("payment_intent.succeeded", fake.intent("succeeded")))
    process_all()
    stripe_http.routes[("POST", "/v1/refunds")] = [fake.refund("pending")]
    stripe_http.routes[("GET", f"/v1/refunds/{REFUND_ID}")] = [fake.refund("pending")]
    purchase_refund(purchase_id=purchase.pk)
    assert status_of(purchase) == ("confirmed", "refund_pending")

    stripe_http.routes[("GET", f"/v1/refunds/{REFUND_ID}")] = [fake.refund("succeeded")]
    charge = {"id": "ch_3Qfake0001", "object": "charge", "payment_intent": INTENT_ID}
    send(api_client, fake.event("charge.refunded", {**charge, "refunded": True}, event_id="evt_r"))
    process_all()

    assert status_of(purchase) == ("refunded", "refunded")
    assert stripe_http.paths().count(("POST", "/v1/refunds")) == 1


@pytest.mark.django_db
def test_a_dispute_stripe_does_not_know_changes_nothing(api_client, stripe_http):
    dispute = {"id": "dp_1", "object": "dispute", "payment_intent": INTENT_ID, "charge": "ch_1"}
    assert send(api_client, fake.event("charge.dispute.created", dispute)).status_code == 202
    assert process_all() == ["ignored: no charge of ours disputed by dp_1"]
    assert WebhookEvent.objects.get().payload["data"]["object"]["id"] == "dp_1"


@pytest.mark.django_db
def test_an_event_about_an_intent_we_never_made_changes_nothing(api_client, stripe_http):
    send(api_client, fake.event("payment_intent.succeeded", fake.intent("succeeded", id="pi_x")))
    assert process_all() == ["recorded: nothing to reconcile"]
    assert stripe_http.calls == []


# --- signatures ----------------------------------------------------------------------------


def _event() -> dict:
    return fake.event("payment_intent.processing", fake.intent("processing"))


@pytest.mark.django_db
def test_a_signature_under_another_secret_is_403(api_client, stripe_http):
    response = send(api_client, _event(), secret="whsec_someone_else")
    assert response.status_code == 403 and response.json()["code"] == "signature_invalid"
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_a_stale_timestamp_is_403_even_when_signed(api_client, stripe_http):
    body = json.dumps(_event()).encode()
    stale = fake.signature(body, SECRET, timestamp=int(timezone.now().timestamp()) - 301)
    response = api_client.post(
        URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=stale
    )
    assert response.status_code == 403 and response.json()["code"] == "timestamp_out_of_range"


@pytest.mark.django_db
def test_two_v1_signatures_during_stripes_rotation_are_accepted(api_client, stripe_http):
    body = json.dumps(_event()).encode()
    old = fake.signature(body, "whsec_old_rolled").split(",v1=")
    new = fake.signature(body, SECRET, timestamp=int(old[0][2:])).split(",v1=")[1]
    header = f"{old[0]},v1={old[1]},v1={new}"
    response = api_client.post(
        URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 202


@pytest.mark.django_db
def test_while_we_roll_our_secret_either_one_is_accepted(api_client, stripe_http, settings):
    settings.STRIPE_WEBHOOK_SECRET = f"whsec_next, {SECRET}"
    assert send(api_client, _event()).status_code == 202
    assert (
        send(api_client, fake.event("x.y", {}, event_id="e2"), secret="whsec_next").status_code
        == 202
    )


@pytest.mark.django_db
def test_an_unsigned_event_is_401(api_client, stripe_http):
    response = api_client.post(URL, data=b"{}", content_type="application/json")
    assert response.status_code == 401


@pytest.mark.django_db
def test_the_endpoint_is_404_unless_stripe_is_the_gateway(api_client, settings):
    settings.PAYMENT_GATEWAY = "simulated"
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    assert send(api_client, _event()).status_code == 404


# --- card only -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_method_stripe_cannot_take_is_refused_at_create(api_client, stripe_http):
    ticket = PurchaseFactory().ticket
    body = purchase_request(ticket, payment_method="mobile_money", payment_token="")
    response = api_client.post("/api/tickets/purchase/direct/", body, format="json")
    assert response.status_code == 400
    assert "pay by card" in response.json()["payment_method"][0]

    destination = DestinationFactory(price_per_guest=Decimal("100.00"))
    booking = {
        "destination_id": destination.pk,
        "customer_name": "Amani Juma",
        "customer_email": "amani@example.com",
        "travel_date": (timezone.localdate() + timedelta(days=30)).isoformat(),
        "guests": 1,
        "payment_method": "bank_transfer",
    }
    response = api_client.post("/api/payments/bookings/", booking, format="json")
    assert response.status_code == 400 and "pay by card" in response.json()["payment_method"][0]


@pytest.mark.django_db
def test_a_decline_keeps_stripes_decline_code_in_the_audit_trail(stripe_http):
    purchase = PurchaseFactory(payment_token="pm_card_chargeDeclinedInsufficientFunds")
    purchase_reserve(purchase_id=purchase.pk)
    stripe_http.routes = {
        ("POST", "/v1/payment_intents"): [fake.intent("requires_confirmation")],
        RETRIEVE: [fake.intent("requires_confirmation")],
        CONFIRM: [fake.card_declined("insufficient_funds")],
    }
    purchase_charge(purchase_id=purchase.pk)

    assert status_of(purchase) == ("failed", "failed")
    assert purchase.failure_reason == "payment_declined"
    note = purchase.events.get(action="failed").note
    assert note == "payment_declined: insufficient_funds"


# --- destination bookings pay through the same adapter ---------------------------------


def _booking_charge(http: RecordedStripe, confirmed: dict):
    payment = payment_of(payment__payment_token="pm_card_visa")
    http.routes = {
        **http.routes,
        ("POST", "/v1/payment_intents"): [fake.intent("requires_confirmation")],
        RETRIEVE: [fake.intent("requires_confirmation"), fake.intent(confirmed["status"])],
        CONFIRM: [confirmed],
    }
    return payment_process(payment_id=payment.pk)


@pytest.mark.django_db
def test_a_booking_is_paid_through_stripe_and_its_webhook_reaches_it(api_client, stripe_http):
    payment = _booking_charge(stripe_http, fake.intent("processing"))
    assert payment.status == "processing"
    assert StripeCharge.objects.get(key=str(payment.pk)).intent_id == INTENT_ID

    stripe_http.routes[RETRIEVE] = [fake.intent("succeeded")]
    send(api_client, fake.event("payment_intent.succeeded", fake.intent("succeeded")))
    [result] = process_all()

    payment.refresh_from_db()
    assert payment.status == "completed" and payment.booking.status == "confirmed"
    assert result.startswith("booking payment completed")


@pytest.mark.django_db
def test_a_booking_whose_card_asks_for_3ds_fails_and_its_charge_is_cancelled(stripe_http):
    stripe_http.routes = {CANCEL: [fake.intent("canceled")]}
    payment = _booking_charge(stripe_http, fake.intent("requires_action"))
    assert payment.status == "failed"
    assert payment.booking.failure_reason == "authentication_required"
    assert CANCEL in stripe_http.paths()
