"""The audit trail (issue 11): every transition and staff action is a row that
says when, what, from -> to, and who (a user, a client, or a task)."""

import pytest
from rest_framework.test import APIClient

from tests.factories import PurchaseFactory, TicketFactory, UserFactory
from tickets.delivery.services import purchase_deliver
from tickets.models import PurchaseEvent
from tickets.sale.payment import purchase_process
from tickets.seats import ticket_change_capacity
from workers import tasks

pytestmark = pytest.mark.django_db


def trail(purchase) -> list[tuple[str, str, str]]:
    return list(
        PurchaseEvent.objects.filter(purchase=purchase).values_list("action", "to_status", "actor")
    )


def test_the_pipeline_leaves_one_row_per_transition_naming_the_task():
    purchase = PurchaseFactory(ticket=TicketFactory(total_quantity=5), quantity=2)
    tasks.process_purchase.apply(args=[str(purchase.pk)])
    tasks.deliver_purchase.apply(args=[str(purchase.pk)])
    assert trail(purchase) == [
        ("seats reserved", "pending", "task tickets.process_purchase"),
        ("confirmed", "confirmed", "task tickets.process_purchase"),
        ("delivered", "completed", "task tickets.deliver_purchase"),
    ]
    confirmed = PurchaseEvent.objects.get(purchase=purchase, action="confirmed")
    purchase.refresh_from_db()
    assert confirmed.gateway_reference == purchase.gateway_reference != ""


def test_a_purchase_created_over_the_api_names_the_client(api_client):
    ticket = TicketFactory()
    body = {
        "ticket_id": ticket.pk,
        "quantity": 1,
        "customer_name": "Ann",
        "customer_email": "ann@example.com",
        "payment_method": "card",
    }
    response = api_client.post(
        "/api/tickets/purchase/direct/", body, format="json", REMOTE_ADDR="198.51.100.9"
    )
    [event] = PurchaseEvent.objects.filter(purchase_id=response.json()["purchase_id"])
    assert (event.action, event.actor) == ("created", "client 198.51.100.9")


def test_a_refund_by_a_staff_user_is_in_the_trail_with_their_name():
    purchase = PurchaseFactory(ticket=TicketFactory(total_quantity=5), quantity=1)
    purchase_process(purchase_id=purchase.pk)
    purchase_deliver(purchase_id=purchase.pk)
    manager = UserFactory(username="maria.manager", is_staff=True, is_superuser=True)
    client = APIClient()
    client.force_authenticate(manager)

    response = client.post(f"/api/tickets/purchase/{purchase.pk}/refund/", {}, format="json")

    assert response.status_code == 200
    refund_rows = PurchaseEvent.objects.filter(purchase=purchase, action__startswith="refund")
    assert [(e.action, e.from_status, e.to_status, e.actor) for e in refund_rows] == [
        ("refund started", "completed", "completed", "user maria.manager"),
        ("refunded", "completed", "refunded", "user maria.manager"),
    ]


def test_a_capacity_change_is_in_the_tickets_trail():
    ticket = TicketFactory(total_quantity=5)
    ticket_change_capacity(ticket_id=ticket.pk, delta=5)
    event = PurchaseEvent.objects.get(ticket=ticket, purchase=None)
    assert (event.action, event.note) == ("capacity changed", "+5 seats, total 10")


def test_the_admin_shows_the_trail_beside_the_purchase(admin_client):
    purchase = PurchaseFactory(ticket=TicketFactory(total_quantity=5), quantity=1)
    tasks.process_purchase.apply(args=[str(purchase.pk)])
    page = admin_client.get(f"/admin/tickets/ticketpurchase/{purchase.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "audit trail" in html.lower() and "task tickets.process_purchase" in html
