"""Staff refunds over the API: money back through the gateway, codes void, seats
returned (also after the event), and a second call changes nothing. Only staff
holding the refund permission may refund."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from gateways import Outcome, TransientGatewayError
from gateways.simulated import SimulatedGateway
from tests.factories import PurchaseFactory, TicketFactory, UserFactory
from tickets.delivery.services import purchase_deliver
from tickets.models import Ticket, TicketCode, TicketPurchase
from tickets.refunds.services import purchase_refund_finish
from tickets.sale.payment import purchase_process

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    """A manager who may refund, and check codes in (some tests scan one first)."""
    user = UserFactory(username="manager", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["refund_ticketpurchase", "redeem_ticketcode"])
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def paid_purchase(quantity: int = 3, total: int = 10) -> TicketPurchase:
    ticket = TicketFactory(total_quantity=total)
    purchase = PurchaseFactory(ticket=ticket, quantity=quantity)
    purchase = purchase_deliver(purchase_id=purchase_process(purchase_id=purchase.pk).pk)
    assert purchase.status == TicketPurchase.Status.COMPLETED
    return purchase


def refund(client, purchase_id, **body):
    return client.post(f"/api/tickets/purchase/{purchase_id}/refund/", body, format="json")


def seats_left(purchase: TicketPurchase) -> int:
    return Ticket.objects.get(pk=purchase.ticket_id).available_quantity


def code_statuses(purchase: TicketPurchase) -> list[str]:
    return list(purchase.codes.values_list("status", flat=True))


def test_refund_returns_the_seats_voids_the_codes_and_refunds_at_the_gateway(staff):
    purchase = paid_purchase(quantity=3, total=10)
    assert seats_left(purchase) == 7

    response = refund(staff, purchase.pk)

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["payment_status"]) == ("refunded", "refunded")
    assert seats_left(purchase) == 10
    assert code_statuses(purchase) == ["void"] * 3
    assert SimulatedGateway().lookup(idempotency_key=str(purchase.pk)).outcome == Outcome.REFUNDED
    assert staff.get(f"/api/tickets/{purchase.ticket_id}/").json()["available_quantity"] == 10


def test_a_second_refund_answers_the_same_and_changes_nothing(staff):
    purchase = paid_purchase(quantity=2, total=10)
    first = refund(staff, purchase.pk)
    refunded_at = TicketPurchase.objects.get(pk=purchase.pk).refunded_at

    second = refund(staff, purchase.pk)

    assert second.status_code == 200
    assert second.json() == first.json()
    assert seats_left(purchase) == 10
    assert TicketPurchase.objects.get(pk=purchase.pk).refunded_at == refunded_at


def test_a_refunded_code_is_refused_at_the_door(staff):
    purchase = paid_purchase(quantity=1)
    refund(staff, purchase.pk)
    code = purchase.codes.get().code
    assert staff.post(f"/api/tickets/codes/{code}/redeem/").status_code == 410


def test_a_used_code_blocks_the_refund_unless_overridden(staff):
    purchase = paid_purchase(quantity=2, total=10)
    used = purchase.codes.first()
    assert staff.post(f"/api/tickets/codes/{used.code}/redeem/").status_code == 200

    refused = refund(staff, purchase.pk)

    assert refused.status_code == 409
    assert refused.json()["code"] == "refund_refused"
    assert TicketPurchase.objects.get(pk=purchase.pk).status == TicketPurchase.Status.COMPLETED
    assert seats_left(purchase) == 8
    assert sorted(code_statuses(purchase)) == ["used", "valid"]
    assert SimulatedGateway().lookup(idempotency_key=str(purchase.pk)).outcome == Outcome.CAPTURED

    overridden = refund(staff, purchase.pk, allow_used=True)

    assert overridden.status_code == 200 and overridden.json()["status"] == "refunded"
    assert seats_left(purchase) == 10
    # The door's record stands: a code scanned before the refund stays used.
    assert TicketCode.objects.get(pk=used.pk).status == TicketCode.Status.USED


def test_refunded_seats_come_back_also_after_the_event(staff):
    # The inventory equation holds for every ticket, always: a refunded purchase
    # holds no seats, whether or not they can still be sold.
    purchase = paid_purchase(quantity=2, total=10)
    Ticket.objects.filter(pk=purchase.ticket_id).update(
        starts_at=timezone.now() - timedelta(hours=1)
    )
    assert refund(staff, purchase.pk).status_code == 200
    assert seats_left(purchase) == 10


def test_a_purchase_that_was_never_paid_cannot_be_refunded(staff):
    purchase = PurchaseFactory(payment_token="")
    response = refund(staff, purchase.pk)
    assert response.status_code == 409 and response.json()["code"] == "refund_refused"
    assert TicketPurchase.objects.get(pk=purchase.pk).status == TicketPurchase.Status.PENDING


def test_an_unknown_purchase_is_404(staff):
    response = refund(staff, "00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_malformed_override_is_400_and_changes_nothing(staff):
    purchase = paid_purchase(quantity=1)
    response = refund(staff, purchase.pk, allow_used="perhaps")
    assert response.status_code == 400 and "allow_used" in response.json()
    assert TicketPurchase.objects.get(pk=purchase.pk).status == TicketPurchase.Status.COMPLETED


def test_only_staff_with_the_refund_permission_can_refund(api_client):
    purchase = paid_purchase(quantity=1)
    assert refund(api_client, purchase.pk).status_code == 401
    for user in (UserFactory(username="customer"), UserFactory(username="clerk", is_staff=True)):
        api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        assert refund(api_client, purchase.pk).status_code == 403
    assert TicketPurchase.objects.get(pk=purchase.pk).status == TicketPurchase.Status.COMPLETED


def test_a_gateway_that_does_not_answer_leaves_the_refund_pending_for_the_sweep(staff, monkeypatch):
    """No answer proves nothing: the refund may have happened. The purchase
    stays refund_pending with its codes void, and the sweep asks again."""
    purchase = paid_purchase(quantity=2, total=10)

    def down(self, **kwargs):
        raise TransientGatewayError("gateway down")

    monkeypatch.setattr(SimulatedGateway, "refund", down)

    response = refund(staff, purchase.pk)

    assert response.status_code == 200
    assert response.json()["payment_status"] == "refund_pending"
    assert code_statuses(purchase) == ["void", "void"]
    assert seats_left(purchase) == 8

    monkeypatch.undo()
    purchase_refund_finish(purchase_id=purchase.pk)  # the refund sweep's task
    assert TicketPurchase.objects.get(pk=purchase.pk).status == TicketPurchase.Status.REFUNDED
    assert seats_left(purchase) == 10
