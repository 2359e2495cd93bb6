"""Check-in at the door: staff with the redeem permission only, one 200 per code,
then 409 with the first `used_at`; 410 for a void code, 404 for an unknown one."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import PurchaseFactory, UserFactory
from tickets.codes import codes_issue
from tickets.models import TicketCode, TicketPurchase

Status = TicketPurchase.Status


def purchase_with_codes(status=Status.COMPLETED, **overrides) -> TicketPurchase:
    """Codes as a confirmed purchase has them, made without the pipeline (no tasks
    are enqueued, so the transactional test below leaves nothing behind)."""
    purchase = PurchaseFactory(
        status=status,
        payment_status=TicketPurchase.PaymentStatus.COMPLETED,
        inventory_reserved=True,
        confirmed_at=timezone.now(),
        **overrides,
    )
    codes_issue(purchase=purchase)
    return purchase


def door_staff(username: str = "door"):
    """Granted directly, not through the "Door staff" group: a transactional test's
    flush removes the migration's groups, while permissions are made again."""
    staff = UserFactory(username=username, is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="redeem_ticketcode"))
    return staff


def staff_client(username: str = "door") -> tuple[APIClient, object]:
    staff = door_staff(username)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    return client, staff


def redeem(client, code: str):
    return client.post(f"/api/tickets/codes/{code}/redeem/")


@pytest.mark.django_db
def test_first_scan_admits_with_the_ticket_and_holder_and_records_who():
    purchase = purchase_with_codes(customer_name="Ann Doe", customer_email="ann@example.com")
    code = purchase.codes.first()
    client, staff = staff_client()

    response = redeem(client, code.code)

    assert response.status_code == 200
    body = response.json()
    assert body["code"] == code.code and body["status"] == "used"
    assert body["ticket"] == purchase.ticket.name
    assert body["customer_name"] == "Ann Doe" and body["customer_email"] == "ann@example.com"
    assert body["purchase_id"] == str(purchase.pk)
    assert body["redeemed_by"] == staff.username
    code.refresh_from_db()
    assert code.status == TicketCode.Status.USED and code.redeemed_by == staff
    assert body["used_at"].replace("Z", "+00:00") == code.used_at.isoformat()
    # The purchase's other code is untouched.
    assert purchase.codes.filter(status=TicketCode.Status.VALID).count() == 1


@pytest.mark.django_db
def test_every_later_scan_is_409_with_the_first_used_at():
    code = purchase_with_codes().codes.first()
    client, _ = staff_client()
    first = redeem(client, code.code).json()["used_at"]
    other_door, _ = staff_client("door2")

    for scanner in (client, other_door, client):
        response = redeem(scanner, code.code)
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "already_used" and body["used_at"] == first
        assert "detail" in body
    code.refresh_from_db()
    assert code.redeemed_by.username == "door"


@pytest.mark.django_db
def test_a_void_code_is_410_and_stays_void():
    code = purchase_with_codes().codes.first()
    TicketCode.objects.filter(pk=code.pk).update(status=TicketCode.Status.VOID)
    client, _ = staff_client()
    response = redeem(client, code.code)
    assert response.status_code == 410
    assert response.json()["code"] == "void"
    code.refresh_from_db()
    assert code.status == TicketCode.Status.VOID and code.used_at is None


@pytest.mark.django_db
def test_an_unknown_code_is_404():
    client, _ = staff_client()
    response = redeem(client, "TKT-00000000")
    assert response.status_code == 404
    assert response.json() == {"detail": "No ticket has this code.", "code": "not_found"}


@pytest.mark.django_db
def test_a_code_typed_in_lower_case_is_redeemed():
    code = purchase_with_codes().codes.first()
    client, _ = staff_client()
    assert redeem(client, f" {code.code.lower()}").status_code == 200


@pytest.mark.django_db
def test_a_code_of_a_purchase_that_is_not_confirmed_is_refused():
    # Codes exist only for paid purchases; if one is left behind anyway, it does not admit.
    code = purchase_with_codes(status=Status.CANCELLED).codes.first()
    client, _ = staff_client()
    response = redeem(client, code.code)
    assert response.status_code == 409 and response.json()["code"] == "not_valid"
    code.refresh_from_db()
    assert code.status == TicketCode.Status.VALID


@pytest.mark.django_db
def test_anonymous_and_non_staff_users_cannot_redeem():
    code = purchase_with_codes().codes.first()
    assert redeem(APIClient(), code.code).status_code == 401
    for user in (UserFactory(username="customer"), UserFactory(username="clerk", is_staff=True)):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        assert redeem(client, code.code).status_code == 403
    code.refresh_from_db()
    assert code.status == TicketCode.Status.VALID


@pytest.mark.django_db
def test_staff_can_redeem_with_a_session(client):
    code = purchase_with_codes().codes.first()
    client.force_login(door_staff())
    assert client.post(f"/api/tickets/codes/{code.code}/redeem/").status_code == 200


@pytest.mark.django_db
def test_a_session_without_the_csrf_token_is_refused():
    from django.test import Client

    code = purchase_with_codes().codes.first()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(door_staff())
    assert browser.post(f"/api/tickets/codes/{code.code}/redeem/").status_code == 403
    code.refresh_from_db()
    assert code.status == TicketCode.Status.VALID


@pytest.mark.django_db(transaction=True)
def test_twenty_scanners_at_once_admit_exactly_one():
    code = purchase_with_codes().codes.first()
    scanners = [staff_client(f"door{n}")[0] for n in range(20)]
    start = threading.Barrier(len(scanners))
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def scan(client: APIClient) -> None:
        try:
            start.wait(timeout=10)
            response = redeem(client, code.code)
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=scan, args=(client,)) for client in scanners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * 19
    code.refresh_from_db()
    assert code.status == TicketCode.Status.USED
    [admitted] = [body for status, body in results if status == 200]
    assert {body["used_at"] for status, body in results if status == 409} == {admitted["used_at"]}
    assert admitted["redeemed_by"] == code.redeemed_by.username
    assert abs(code.used_at - timezone.now()) < timedelta(minutes=1)
