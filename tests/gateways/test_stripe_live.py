"""Stripe end to end, offline: localstripe (a stateful fake of Stripe's API)
as its own process, real Celery workers and gunicorn configured with
PAYMENT_GATEWAY=stripe, and webhooks signed and delivered by localstripe.

Skipped with the reason when localstripe cannot start."""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from gateways.models import StripeCharge, StripeRefund, WebhookEvent
from tests.factories import TicketFactory, purchase_request
from tests.waiting import describe, wait_for, wait_until_final
from tickets.models import TicketPurchase
from tickets.refunds.services import purchase_refund
from tickets.sale.purchases import purchases_expire_due
from tickets.sale.sweeps import purchases_finish_refunds, purchases_sweep_stuck_payments

VISA = "4242424242424242"
THREE_D_SECURE = "4000002760003184"  # requires_action until authenticated
CREATE_URL = "/api/tickets/purchase/direct/"


def buy(api_client, localstripe, card: str, quantity: int = 2) -> str:
    ticket = TicketFactory(total_quantity=10, price="25.00")
    body = purchase_request(
        ticket, quantity=quantity, payment_token=localstripe.payment_method(card)
    )
    response = api_client.post(CREATE_URL, body, format="json")
    assert response.status_code == 202, response.content
    return response.json()["purchase_id"]


def waiting_for_authentication(api_client, purchase_id: str) -> dict:
    def asked() -> dict | None:
        status = api_client.get(f"/api/tickets/purchase/{purchase_id}/status/").json()
        return status if status["payment_status"] == "requires_action" else None

    try:
        return wait_for(asked, timeout=30)
    except AssertionError:
        raise AssertionError(describe(TicketPurchase.objects.get(pk=purchase_id))) from None


@pytest.mark.django_db(transaction=True)
def test_a_card_that_succeeds_ends_completed_with_codes(api_client, localstripe, stripe_worker):
    purchase_id = buy(api_client, localstripe, VISA)

    [purchase] = wait_until_final([purchase_id])

    assert purchase.status == TicketPurchase.Status.COMPLETED, describe(purchase)
    assert purchase.codes.count() == 2
    intent_id = StripeCharge.objects.get(key=purchase_id).intent_id
    assert purchase.gateway_reference == intent_id
    intent = localstripe.intent(intent_id)
    assert (intent["status"], intent["amount"], intent["currency"]) == ("succeeded", 5000, "usd")
    assert intent["metadata"] == {"idempotency_key": purchase_id}


@pytest.mark.django_db(transaction=True)
def test_a_burst_is_charged_together_each_with_its_own_intent(
    api_client, localstripe, start_worker
):
    # A worker that lets the burst gather, so one batch charges them on its threads.
    start_worker("burst", extra_env={**localstripe.env(), "BATCH_LINGER_MS": "1500"})
    ticket = TicketFactory(total_quantity=10, price="25.00")
    ids = []
    for n in range(5):
        token = localstripe.payment_method(THREE_D_SECURE if n == 2 else VISA)
        body = purchase_request(ticket, customer_email=f"b{n}@example.com", payment_token=token)
        response = api_client.post(CREATE_URL, body, format="json")
        assert response.status_code == 202, response.content
        ids.append(response.json()["purchase_id"])

    waiting_for_authentication(api_client, ids[2])
    others = wait_until_final(ids[:2] + ids[3:])

    assert {p.status for p in others} == {TicketPurchase.Status.COMPLETED}
    intents = set(StripeCharge.objects.filter(key__in=ids).values_list("intent_id", flat=True))
    assert len(intents) == 5
    assert all(localstripe.intent(i)["status"] in ("succeeded", "requires_action") for i in intents)


@pytest.mark.django_db(transaction=True)
def test_a_3ds_card_waits_is_authenticated_and_completes_by_webhook(
    api_client, localstripe, stripe_web
):
    purchase_id = buy(api_client, localstripe, THREE_D_SECURE)
    status = waiting_for_authentication(api_client, purchase_id)
    purchase = TicketPurchase.objects.get(pk=purchase_id)
    assert purchase.inventory_reserved and purchase.status == "pending"
    intent_id = StripeCharge.objects.get(key=purchase_id).intent_id

    # What Stripe.js's confirmCardPayment does in the buyer's browser.
    localstripe.authenticate(intent_id, status["client_secret"])

    [purchase] = wait_until_final([purchase_id])
    assert purchase.status == TicketPurchase.Status.COMPLETED, describe(purchase)
    assert purchase.codes.count() == 2
    event = WebhookEvent.objects.get(gateway="stripe", event_type="payment_intent.succeeded")
    assert event.object_id == purchase_id
    assert event.processed_at is not None and "confirmed" in event.result


@pytest.mark.django_db(transaction=True)
def test_a_lost_webhook_is_made_up_by_the_stuck_payment_sweep(
    api_client, localstripe, stripe_worker
):
    # No webhook endpoint registered: localstripe's event goes nowhere.
    purchase_id = buy(api_client, localstripe, THREE_D_SECURE)
    status = waiting_for_authentication(api_client, purchase_id)
    intent_id = StripeCharge.objects.get(key=purchase_id).intent_id
    localstripe.authenticate(intent_id, status["client_secret"])
    assert localstripe.intent(intent_id)["status"] == "succeeded"
    assert TicketPurchase.objects.get(pk=purchase_id).payment_status == "requires_action"

    TicketPurchase.objects.filter(pk=purchase_id).update(
        payment_started_at=timezone.now() - timedelta(minutes=10)
    )
    assert purchases_sweep_stuck_payments(older_than_minutes=5) == 1  # as beat runs it

    [purchase] = wait_until_final([purchase_id])
    assert purchase.status == TicketPurchase.Status.COMPLETED, describe(purchase)
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_refund_whose_call_failed_is_settled_by_the_sweep_once(
    api_client, localstripe, stripe_worker, settings
):
    purchase_id = buy(api_client, localstripe, VISA, quantity=1)
    wait_until_final([purchase_id])
    intent_id = StripeCharge.objects.get(key=purchase_id).intent_id

    # Staff refund while Stripe cannot be reached: the outcome is unknown.
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    purchase = purchase_refund(purchase_id=purchase_id)
    assert purchase.payment_status == TicketPurchase.PaymentStatus.REFUND_PENDING
    assert localstripe.refunds(intent_id) == []

    settings.STRIPE_API_BASE = localstripe.url
    TicketPurchase.objects.filter(pk=purchase_id).update(
        updated_at=timezone.now() - timedelta(minutes=10)
    )
    assert purchases_finish_refunds() == 1  # the worker finishes it

    def refunded() -> TicketPurchase | None:
        purchase = TicketPurchase.objects.get(pk=purchase_id)
        return purchase if purchase.payment_status == "refunded" else None

    purchase = wait_for(refunded, timeout=30)
    assert purchase.status == TicketPurchase.Status.REFUNDED
    [refund] = localstripe.refunds(intent_id)
    assert (refund["status"], refund["amount"]) == ("succeeded", 2500)
    assert StripeRefund.objects.get(key=f"{purchase_id}:refund").refund_id == refund["id"]
    assert purchase_refund(purchase_id=purchase_id).status == "refunded"  # a second click
    assert len(localstripe.refunds(intent_id)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_3ds_hold_that_expires_has_its_charge_cancelled_and_keeps_no_money(
    api_client, localstripe, stripe_worker
):
    purchase_id = buy(api_client, localstripe, THREE_D_SECURE)
    status = waiting_for_authentication(api_client, purchase_id)
    TicketPurchase.objects.filter(pk=purchase_id).update(
        hold_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert purchases_expire_due() == 1  # as beat runs it
    purchase = TicketPurchase.objects.get(pk=purchase_id)
    assert (purchase.status, purchase.payment_status) == ("expired", "failed")
    assert purchase.ticket.available_quantity == 10  # the seats are back

    intent_id = StripeCharge.objects.get(key=purchase_id).intent_id
    wait_for(lambda: localstripe.intent(intent_id)["status"] == "canceled", timeout=30)
    with pytest.raises(requests.HTTPError):  # too late: nothing left to authenticate
        localstripe.authenticate(intent_id, status["client_secret"])
    assert localstripe.intent(intent_id)["latest_charge"] is None  # never charged
    assert not StripeRefund.objects.filter(charge_key=purchase_id).exists()
    assert TicketPurchase.objects.get(pk=purchase_id).payment_status == "failed"
