import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tests.factories import PurchaseFactory, TicketFactory, UserFactory
from tickets.models import IdempotencyKey, TicketPurchase
from tickets.sale.payment import purchase_charge, purchase_fail
from tickets.sale.purchases import purchase_reserve

pytestmark = pytest.mark.django_db

CREATE_URL = "/api/tickets/purchase/direct/"


@pytest.fixture
def ticket():
    return TicketFactory(name="Traditional Dance Performance", price="80.00", total_quantity=50)


def valid_body(ticket, **overrides) -> dict:
    return {
        "ticket_id": ticket.pk,
        "quantity": 2,
        "customer_name": "Test Customer",
        "customer_email": "test@example.com",
        "payment_method": "card",
        **overrides,
    }


# --- catalog ---------------------------------------------------------------------------


def test_catalog_lists_tickets_on_sale_only(api_client, ticket):
    TicketFactory(name="Withdrawn", is_on_sale=False)
    response = api_client.get("/api/tickets/")
    assert response.status_code == 200
    [listed] = response.json()["results"]
    assert listed["name"] == "Traditional Dance Performance"
    assert listed["price"] == "80.00" and listed["available_quantity"] == 50
    assert {"id", "currency", "starts_at", "venue"} <= set(listed)


def test_one_ticket_and_an_unknown_one(api_client, ticket):
    assert api_client.get(f"/api/tickets/{ticket.pk}/").json()["id"] == ticket.pk
    missing = api_client.get("/api/tickets/999999/")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


# --- create ------------------------------------------------------------------------------


def test_create_answers_202_with_the_purchase_and_its_status_url(api_client, ticket):
    body = valid_body(ticket, unit_price="0.01", total_amount="0.02")
    response = api_client.post(CREATE_URL, body, format="json")
    assert response.status_code == 202
    data = response.json()
    assert data["status"] == "pending" and data["payment_status"] == "pending"
    assert (data["unit_price"], data["total_amount"], data["currency"]) == (
        "80.00",
        "160.00",
        "USD",
    )
    assert data["ticket"] == "Traditional Dance Performance" and data["ticket_codes"] == []
    assert response["Location"].endswith(f"/api/tickets/purchase/{data['purchase_id']}/status/")


def test_create_links_the_purchase_to_an_authenticated_user(api_client, ticket):
    user = UserFactory()
    api_client.force_authenticate(user)
    response = api_client.post(CREATE_URL, valid_body(ticket), format="json")
    assert TicketPurchase.objects.get(pk=response.json()["purchase_id"]).user == user


BAD_BODIES = [
    ("missing ticket", {"ticket_id": None}, "ticket_id"),
    ("unknown ticket", {"ticket_id": 999999}, "ticket_id"),
    ("ticket as string", {"ticket_id": "1"}, "ticket_id"),
    ("zero quantity", {"quantity": 0}, "quantity"),
    ("negative quantity", {"quantity": -1}, "quantity"),
    ("quantity above limit", {"quantity": 11}, "quantity"),
    ("fractional quantity", {"quantity": 1.5}, "quantity"),
    ("quantity as string", {"quantity": "2"}, "quantity"),
    ("quantity as bool", {"quantity": True}, "quantity"),
    ("missing name", {"customer_name": None}, "customer_name"),
    ("blank name", {"customer_name": "   "}, "customer_name"),
    ("name too long", {"customer_name": "x" * 121}, "customer_name"),
    ("bad e-mail", {"customer_email": "not-an-email"}, "customer_email"),
    ("missing e-mail", {"customer_email": None}, "customer_email"),
    ("unknown payment method", {"payment_method": "bitcoin"}, "payment_method"),
    ("phone too long", {"customer_phone": "1" * 40}, "customer_phone"),
]


@pytest.mark.parametrize(("case", "change", "field"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_is_400_in_drf_shape_and_changes_nothing(api_client, ticket, case, change, field):
    body = {k: v for k, v in {**valid_body(ticket), **change}.items() if v is not None}
    response = api_client.post(CREATE_URL, body, format="json")
    assert response.status_code == 400, case
    assert field in response.json() and isinstance(response.json()[field], list)
    assert not TicketPurchase.objects.exists()
    ticket.refresh_from_db()
    assert ticket.available_quantity == 50


def test_a_ticket_not_on_sale_is_a_validation_error(api_client):
    closed = TicketFactory(is_on_sale=False)
    response = api_client.post(CREATE_URL, valid_body(closed), format="json")
    assert response.status_code == 400 and "ticket_id" in response.json()
    assert not TicketPurchase.objects.exists()


def test_malformed_json_is_400(api_client, ticket):
    response = api_client.post(CREATE_URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not TicketPurchase.objects.exists()


# --- idempotency ---------------------------------------------------------------------------


def test_same_key_same_body_replays_the_original_response(api_client, ticket):
    first = api_client.post(
        CREATE_URL, valid_body(ticket), format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    again = api_client.post(
        CREATE_URL, valid_body(ticket), format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert TicketPurchase.objects.count() == 1


def test_same_key_different_body_is_422(api_client, ticket):
    api_client.post(CREATE_URL, valid_body(ticket), format="json", HTTP_IDEMPOTENCY_KEY="k2")
    other = valid_body(ticket, quantity=3)
    response = api_client.post(CREATE_URL, other, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert TicketPurchase.objects.count() == 1


def test_a_key_still_in_flight_is_409(api_client, ticket):
    from tickets.sale.idempotency import idempotency_scope, request_fingerprint

    body = valid_body(ticket)
    validated = {**body, "customer_phone": "", "payment_token": ""}
    IdempotencyKey.objects.create(
        scope=idempotency_scope(user=None, client_address="127.0.0.1"),
        key="k3",
        request_fingerprint=request_fingerprint(validated),
    )
    response = api_client.post(CREATE_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k3")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_flight"
    assert not TicketPurchase.objects.exists()


def test_a_key_longer_than_255_characters_is_a_validation_error(api_client, ticket):
    response = api_client.post(
        CREATE_URL, valid_body(ticket), format="json", HTTP_IDEMPOTENCY_KEY="k" * 256
    )
    assert response.status_code == 400
    assert response.json() == {"Idempotency-Key": ["At most 255 characters."]}
    assert not TicketPurchase.objects.exists() and not IdempotencyKey.objects.exists()


def test_a_rejected_request_frees_its_key(api_client):
    closed = TicketFactory(is_on_sale=False)
    response = api_client.post(
        CREATE_URL, valid_body(closed), format="json", HTTP_IDEMPOTENCY_KEY="k4"
    )
    assert response.status_code == 400 and "ticket_id" in response.json()
    assert not IdempotencyKey.objects.exists()


# --- status ---------------------------------------------------------------------------------


def test_status_is_small_with_retry_after_and_etag(api_client):
    purchase = PurchaseFactory()
    url = f"/api/tickets/purchase/{purchase.pk}/status/"
    response = api_client.get(url)
    assert response.status_code == 200
    assert set(response.json()) == {
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
    assert response["Retry-After"] == "1"
    unchanged = api_client.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert unchanged.status_code == 304
    purchase_reserve(purchase_id=purchase.pk)
    purchase_fail(purchase_id=purchase.pk, reason="payment_declined")
    changed = api_client.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert changed.status_code == 200 and changed.json()["status"] == "failed"
    assert "Retry-After" not in changed


@pytest.mark.parametrize("path", ["status", "details", "complete", "simulate-payment"])
def test_unknown_or_malformed_purchase_ids_are_404(api_client, path):
    method = api_client.get if path in ("status", "details") else api_client.post
    assert method(f"/api/tickets/purchase/{uuid.uuid4()}/{path}/").status_code == 404
    assert method(f"/api/tickets/purchase/not-a-uuid/{path}/").status_code == 404


# --- details, complete, simulate --------------------------------------------------------------


def test_details_have_the_spec_shape(api_client):
    purchase = purchase_reserve(purchase_id=PurchaseFactory(quantity=2).pk)
    purchase_charge(purchase_id=purchase.pk)
    data = api_client.get(f"/api/tickets/purchase/{purchase.pk}/details/").json()
    expected_keys = {
        "purchase_id",
        "ticket",
        "ticket_id",
        "customer_name",
        "customer_email",
        "quantity",
        "unit_price",
        "total_amount",
        "currency",
        "payment_method",
        "status",
        "payment_status",
        "failure_reason",
        "ticket_codes",
        "created_at",
        "confirmed_at",
        "hold_expires_at",
    }
    assert expected_keys <= set(data)
    assert data["status"] == "confirmed" and len(data["ticket_codes"]) == 2


def test_complete_accepts_a_token_once_then_409(api_client):
    purchase = PurchaseFactory(payment_token="")
    url = f"/api/tickets/purchase/{purchase.pk}/complete/"
    assert api_client.post(url, {"payment_token": "tok_success"}, format="json").status_code == 202
    again = api_client.post(url, {"payment_token": "tok_success"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "payment_already_submitted"


def test_complete_on_a_purchase_no_longer_pending_is_409(api_client):
    purchase = PurchaseFactory(payment_token="", status=TicketPurchase.Status.EXPIRED)
    url = f"/api/tickets/purchase/{purchase.pk}/complete/"
    response = api_client.post(url, {"payment_token": "tok_success"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "purchase_not_pending"


def test_complete_without_a_token_is_400(api_client):
    purchase = PurchaseFactory(payment_token="")
    response = api_client.post(f"/api/tickets/purchase/{purchase.pk}/complete/", {}, format="json")
    assert response.status_code == 400 and "payment_token" in response.json()


def test_simulate_payment_is_404_when_simulation_is_off(api_client, settings):
    settings.PAYMENT_SIMULATION_ENABLED = False
    purchase = PurchaseFactory(payment_token="")
    url = f"/api/tickets/purchase/{purchase.pk}/simulate-payment/"
    assert api_client.post(url, {"outcome": "success"}, format="json").status_code == 404


def test_simulate_payment_validates_the_outcome(api_client):
    purchase = PurchaseFactory(payment_token="")
    url = f"/api/tickets/purchase/{purchase.pk}/simulate-payment/"
    response = api_client.post(url, {"outcome": "maybe"}, format="json")
    assert response.status_code == 400 and "outcome" in response.json()


# --- user's purchases, debug, auth ---------------------------------------------------------------


def test_users_see_only_their_own_purchases_with_token_auth(api_client):
    owner, other = UserFactory(), UserFactory()
    mine = PurchaseFactory(user=owner)
    PurchaseFactory(user=other)
    PurchaseFactory()
    token = Token.objects.create(user=owner)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    data = api_client.get("/api/tickets/purchases/user/").json()
    assert data["count"] == 1 and data["results"][0]["purchase_id"] == str(mine.pk)


def test_users_purchases_need_authentication(api_client):
    response = api_client.get("/api/tickets/purchases/user/")
    assert response.status_code == 401


def test_session_auth_works_for_users_purchases(client):
    user = UserFactory()
    PurchaseFactory(user=user)
    client.force_login(user)
    assert client.get("/api/tickets/purchases/user/").json()["count"] == 1


def test_token_endpoint_issues_a_token(api_client):
    UserFactory(username="ann")
    response = api_client.post(
        "/api/auth/token/",
        {"username": "ann", "password": "correct horse battery staple"},
        format="json",
    )
    assert response.status_code == 200 and response.json()["token"]


def test_debug_is_for_staff_with_its_permission(api_client):
    from django.contrib.auth.models import Permission

    PurchaseFactory(
        payment_status="processing", payment_started_at=timezone.now() - timedelta(hours=1)
    )
    assert api_client.get("/api/tickets/purchases/debug/").status_code == 401
    api_client.force_authenticate(UserFactory())
    assert api_client.get("/api/tickets/purchases/debug/").status_code == 403
    api_client.force_authenticate(UserFactory(username="staff", is_staff=True))
    assert api_client.get("/api/tickets/purchases/debug/").status_code == 403
    support = UserFactory(username="support", is_staff=True)
    support.user_permissions.add(Permission.objects.get(codename="view_purchase_debug"))
    api_client.force_authenticate(support)
    data = api_client.get("/api/tickets/purchases/debug/").json()
    assert data["counts"]["pending"] == 1 and len(data["stuck_in_payment"]) == 1


def test_a_key_abandoned_by_a_dead_request_can_be_used_again(api_client, ticket):
    from tickets.sale.idempotency import idempotency_scope, request_fingerprint

    body = valid_body(ticket)
    validated = {**body, "customer_phone": "", "payment_token": ""}
    stale = IdempotencyKey.objects.create(
        scope=idempotency_scope(user=None, client_address="127.0.0.1"),
        key="k5",
        request_fingerprint=request_fingerprint(validated),
    )
    IdempotencyKey.objects.filter(pk=stale.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    response = api_client.post(CREATE_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k5")
    assert response.status_code == 202
    assert TicketPurchase.objects.count() == 1


def test_a_ticket_whose_sale_has_not_opened_is_neither_listed_nor_sold(api_client):
    later = TicketFactory(name="Not yet", sale_starts_at=timezone.now() + timedelta(days=1))
    assert api_client.get("/api/tickets/").json()["count"] == 0
    response = api_client.post(CREATE_URL, valid_body(later), format="json")
    assert response.status_code == 400 and "ticket_id" in response.json()
