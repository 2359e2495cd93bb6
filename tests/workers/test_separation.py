"""A ticket purchase never creates, reads-for-update or changes a `payments.Payment`
row: the whole ticket flow, through the real worker, leaves that table as it was.
(The other direction is in tests/payments/test_pipeline.py.)"""

import pytest
from django.forms.models import model_to_dict

from payments.models import Booking, Payment
from tests.factories import TicketFactory
from tests.payments.factories import BookingFactory
from tests.waiting import wait_for, wait_until_final
from tickets.models import TicketPurchase
from tickets.refunds.services import purchase_refund

pytestmark = pytest.mark.django_db(transaction=True)


def snapshot() -> list[dict]:
    rows = [model_to_dict(p) for p in Payment.objects.order_by("pk")]
    rows += [model_to_dict(b) for b in Booking.objects.order_by("pk")]
    return rows


def buy(api_client, ticket, token: str) -> str:
    body = {
        "ticket_id": ticket.pk,
        "quantity": 1,
        "customer_name": "Ann",
        "customer_email": "ann@example.com",
        "payment_method": "card",
        "payment_token": token,
    }
    response = api_client.post("/api/tickets/purchase/direct/", body, format="json")
    assert response.status_code == 202
    return response.json()["purchase_id"]


def test_the_whole_ticket_flow_leaves_destination_payments_untouched(worker, api_client):
    BookingFactory(payment__payment_token="tok_success")
    BookingFactory(payment__payment_token="tok_decline")
    before = snapshot()
    ticket = TicketFactory(total_quantity=10)

    paid = buy(api_client, ticket, "tok_success")
    declined = buy(api_client, ticket, "tok_decline")
    retried = buy(api_client, ticket, "tok_error_once")
    two_step = buy(api_client, ticket, "")
    wait_for(lambda: TicketPurchase.objects.get(pk=two_step).inventory_reserved)
    complete_url = f"/api/tickets/purchase/{two_step}/complete/"
    api_client.post(complete_url, {"payment_token": "tok_success"}, format="json")
    wait_until_final([paid, declined, retried, two_step])
    purchase_refund(purchase_id=paid)

    statuses = {
        str(pk): status for pk, status in TicketPurchase.objects.values_list("pk", "status")
    }
    assert [statuses[pk] for pk in (paid, declined, retried, two_step)] == [
        "refunded",
        "failed",
        "completed",
        "completed",
    ]
    assert snapshot() == before
