"""The holder cancels a pending purchase: its seats come back at once; a final
purchase, or one whose payment has begun, stays as it is (409)."""

import uuid

import pytest

from tests.factories import PurchaseFactory, TicketFactory
from tickets.delivery.services import purchase_deliver
from tickets.models import Ticket, TicketPurchase
from tickets.sale.payment import purchase_process
from tickets.sale.purchases import purchase_reserve

pytestmark = pytest.mark.django_db


def cancel(client, purchase_id):
    return client.post(f"/api/tickets/purchase/{purchase_id}/cancel/")


def seats_left(purchase: TicketPurchase) -> int:
    return Ticket.objects.get(pk=purchase.ticket_id).available_quantity


def reserved_purchase(quantity: int = 3, total: int = 10, token: str = "") -> TicketPurchase:
    """Pending, seats held, waiting for its payment."""
    purchase = PurchaseFactory(
        ticket=TicketFactory(total_quantity=total), quantity=quantity, payment_token=token
    )
    purchase = purchase_reserve(purchase_id=purchase.pk)
    assert purchase.inventory_reserved and seats_left(purchase) == total - quantity
    return purchase


def test_cancel_gives_the_seats_back_and_answers_the_status(api_client):
    purchase = reserved_purchase(quantity=3, total=10)

    response = cancel(api_client, purchase.pk)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "purchase_id",
        "status",
        "payment_status",
        "failure_reason",
        "updated_at",
        "queue_position",
        "estimated_wait_seconds",
        "waiting_list",
        "client_secret",
    }
    assert body["queue_position"] is None and body["estimated_wait_seconds"] is None
    assert (body["purchase_id"], body["status"], body["payment_status"]) == (
        str(purchase.pk),
        "cancelled",
        "pending",
    )
    assert seats_left(purchase) == 10
    assert api_client.get(f"/api/tickets/{purchase.ticket_id}/").json()["available_quantity"] == 10
    polled = api_client.get(f"/api/tickets/purchase/{purchase.pk}/status/")
    assert polled.json()["status"] == "cancelled" and "Retry-After" not in polled


def test_a_second_cancel_answers_the_cancelled_purchase_and_changes_nothing(api_client):
    purchase = reserved_purchase(quantity=2, total=10)
    first = cancel(api_client, purchase.pk)

    second = cancel(api_client, purchase.pk)

    assert second.status_code == 200
    assert second.json() == first.json()
    assert seats_left(purchase) == 10


def test_a_purchase_not_yet_reserved_is_cancelled_without_touching_inventory(api_client):
    purchase = PurchaseFactory(ticket=TicketFactory(total_quantity=10), payment_token="")
    response = cancel(api_client, purchase.pk)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert seats_left(purchase) == 10


def test_a_completed_purchase_cannot_be_cancelled(api_client):
    purchase = PurchaseFactory(ticket=TicketFactory(total_quantity=10), quantity=2)
    purchase = purchase_deliver(purchase_id=purchase_process(purchase_id=purchase.pk).pk)
    assert purchase.status == TicketPurchase.Status.COMPLETED

    response = cancel(api_client, purchase.pk)

    assert response.status_code == 409
    assert response.json()["code"] == "purchase_not_pending"
    after = TicketPurchase.objects.get(pk=purchase.pk)
    assert (after.status, after.payment_status) == ("completed", "completed")
    assert seats_left(purchase) == 8
    assert list(after.codes.values_list("status", flat=True)) == ["valid", "valid"]


def test_a_purchase_whose_payment_has_begun_cannot_be_cancelled(api_client):
    purchase = reserved_purchase(quantity=2, total=10, token="tok_pending")
    assert purchase.payment_status == TicketPurchase.PaymentStatus.PROCESSING

    response = cancel(api_client, purchase.pk)

    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert TicketPurchase.objects.get(pk=purchase.pk).status == TicketPurchase.Status.PENDING
    assert seats_left(purchase) == 8


def test_cancelling_an_unknown_or_malformed_purchase_is_404(api_client):
    missing = cancel(api_client, uuid.uuid4())
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not found.", "code": "not_found"}
    assert cancel(api_client, "not-a-uuid").status_code == 404
