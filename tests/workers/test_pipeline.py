"""The pipeline end to end: HTTP API -> Redis broker -> a real Celery worker process."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from gateways.simulated import SimulatedGateway
from tests.factories import TicketFactory
from tests.waiting import wait_for, wait_until_final
from tickets.models import TicketPurchase
from workers.tasks import sweep_stuck_purchase_payments

pytestmark = pytest.mark.django_db(transaction=True)

CODE_FORMAT = re.compile(r"^TKT-[0-9A-HJKMNP-TV-Z]{8}$")


def buy(api_client, ticket, idempotency_key=None, **overrides):
    headers = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    body = {
        "ticket_id": ticket.pk,
        "quantity": 2,
        "customer_name": "Test Customer",
        "customer_email": "test@example.com",
        "payment_method": "card",
        "payment_token": "tok_success",
        **overrides,
    }
    response = api_client.post("/api/tickets/purchase/direct/", body, format="json", **headers)
    assert response.status_code == 202, response.content
    return response


def test_a_task_round_trips_through_the_real_broker_and_worker(worker):
    from celery import current_app

    result = current_app.send_task("workers.ping")
    assert result.get(timeout=20) == "pong"


def test_paid_purchase_reaches_completed_with_its_codes(worker, api_client, mailoutbox):
    ticket = TicketFactory(total_quantity=10)
    response = buy(api_client, ticket, quantity=2)
    [purchase] = wait_until_final([response.json()["purchase_id"]])

    assert purchase.status == TicketPurchase.Status.COMPLETED
    assert purchase.payment_status == TicketPurchase.PaymentStatus.COMPLETED
    codes = list(purchase.codes.values_list("code", flat=True))
    assert len(codes) == 2 and all(CODE_FORMAT.match(code) for code in codes)
    ticket.refresh_from_db()
    assert ticket.available_quantity == 8


def seats_left(ticket) -> int:
    ticket.refresh_from_db()
    return ticket.available_quantity


def test_declined_payment_fails_and_releases_the_seats(worker, api_client):
    ticket = TicketFactory(total_quantity=10)
    response = buy(api_client, ticket, quantity=3, payment_token="tok_decline")
    [purchase] = wait_until_final([response.json()["purchase_id"]])
    assert (purchase.status, purchase.failure_reason) == ("failed", "payment_declined")
    assert purchase.payment_status == "failed"
    assert seats_left(ticket) == 10
    assert not purchase.codes.exists()


def test_transient_gateway_error_is_retried_until_it_succeeds(worker, api_client):
    ticket = TicketFactory(total_quantity=10)
    response = buy(api_client, ticket, quantity=1, payment_token="tok_error_once")
    [purchase] = wait_until_final([response.json()["purchase_id"]])
    assert purchase.status == "completed" and purchase.codes.count() == 1
    gateway = SimulatedGateway()
    assert int(gateway.redis.get(f"simgw:calls:{purchase.pk}")) == 2  # failed once, retried once
    assert gateway.captures(str(purchase.pk)) == 1


def test_a_gateway_that_keeps_failing_ends_in_a_clean_failure(worker, api_client):
    ticket = TicketFactory(total_quantity=10)
    response = buy(api_client, ticket, quantity=2, payment_token="tok_error")
    [purchase] = wait_until_final([response.json()["purchase_id"]])
    assert (purchase.status, purchase.failure_reason) == ("failed", "payment_error")
    assert seats_left(ticket) == 10
    calls = int(SimulatedGateway().redis.get(f"simgw:calls:{purchase.pk}"))
    # The batch's try, then the purchase's own task: its first try and
    # PAYMENT_MAX_RETRIES=2 retries (set in conftest.py).
    assert calls == 4


def test_two_step_purchase_holds_seats_then_completes_after_complete(worker, api_client):
    ticket = TicketFactory(total_quantity=10)
    response = buy(api_client, ticket, quantity=2, payment_token="")
    purchase_id = response.json()["purchase_id"]
    wait_for(lambda: TicketPurchase.objects.get(pk=purchase_id).inventory_reserved)
    assert seats_left(ticket) == 8
    status = api_client.get(response["Location"]).json()
    assert (status["status"], status["payment_status"]) == ("pending", "pending")

    url = f"/api/tickets/purchase/{purchase_id}/complete/"
    assert api_client.post(url, {"payment_token": "tok_success"}, format="json").status_code == 202
    [purchase] = wait_until_final([purchase_id])
    assert purchase.status == "completed" and purchase.codes.count() == 2
    assert api_client.post(url, {"payment_token": "tok_success"}, format="json").status_code == 409


@pytest.mark.parametrize(("outcome", "final"), [("success", "completed"), ("failure", "failed")])
def test_simulated_gateway_callback_settles_the_purchase(worker, api_client, outcome, final):
    ticket = TicketFactory(total_quantity=10)
    response = buy(api_client, ticket, quantity=2, payment_method="mobile_money", payment_token="")
    purchase_id = response.json()["purchase_id"]
    url = f"/api/tickets/purchase/{purchase_id}/simulate-payment/"
    assert api_client.post(url, {"outcome": outcome}, format="json").status_code == 202
    [purchase] = wait_until_final([purchase_id])
    assert purchase.status == final
    assert seats_left(ticket) == (8 if final == "completed" else 10)


def test_idempotent_replay_creates_one_purchase_through_the_pipeline(worker, api_client):
    ticket = TicketFactory(total_quantity=10)
    first = buy(api_client, ticket, idempotency_key="order-42")
    again = buy(api_client, ticket, idempotency_key="order-42")
    assert again.json()["purchase_id"] == first.json()["purchase_id"]
    wait_until_final([first.json()["purchase_id"]])
    assert TicketPurchase.objects.count() == 1
    assert seats_left(ticket) == 8


def test_details_after_completion_list_the_codes(worker, api_client):
    ticket = TicketFactory(total_quantity=10)
    response = buy(api_client, ticket, quantity=2)
    purchase_id = response.json()["purchase_id"]
    wait_until_final([purchase_id])
    details = api_client.get(f"/api/tickets/purchase/{purchase_id}/details/").json()
    assert details["status"] == "completed" and details["payment_status"] == "completed"
    assert len(details["ticket_codes"]) == 2 and details["confirmed_at"]


def test_a_charge_pending_at_give_up_is_asked_again_by_the_stuck_sweep(worker, api_client):
    """Every charge call times out, but the processor took the charge: after the
    last retry the worker must leave the purchase processing (not fail it while
    the money may arrive), and the stuck sweep confirms it once the gateway
    answers."""
    ticket = TicketFactory(total_quantity=10)
    purchase_id = buy(api_client, ticket, quantity=2, payment_token="tok_timeout").json()[
        "purchase_id"
    ]
    wait_for(lambda: f"purchase {purchase_id}: gateway says pending" in worker.output())
    purchase = TicketPurchase.objects.get(pk=purchase_id)
    assert (purchase.status, purchase.payment_status) == ("pending", "processing")
    assert seats_left(ticket) == 8  # the seats stay held while the money may come

    SimulatedGateway().settle(purchase_id)
    stuck_since = timezone.now() - timedelta(minutes=settings.STUCK_PAYMENT_MINUTES + 1)
    TicketPurchase.objects.filter(pk=purchase_id).update(payment_started_at=stuck_since)
    assert sweep_stuck_purchase_payments.delay().get(timeout=20) == 1

    [purchase] = wait_until_final([purchase_id])
    assert purchase.status == "completed" and purchase.codes.count() == 2
    assert SimulatedGateway().captures(purchase_id) == 1
