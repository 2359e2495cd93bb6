"""The pipeline end to end: HTTP API -> Redis broker -> a real Celery worker process."""

import re

import pytest

from tests.factories import TicketFactory
from tests.waiting import wait_until_final
from tickets.models import TicketPurchase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

CODE_FORMAT = re.compile(r"^TKT-[0-9A-HJKMNP-TV-Z]{8}$")


def buy(api_client, ticket, **overrides):
    body = {
        "ticket_id": ticket.pk,
        "quantity": 2,
        "customer_name": "Test Customer",
        "customer_email": "test@example.com",
        "payment_method": "card",
        "payment_token": "tok_success",
        **overrides,
    }
    response = api_client.post("/api/tickets/purchase/direct/", body, format="json")
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
