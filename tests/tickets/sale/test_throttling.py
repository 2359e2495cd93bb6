import pytest
from django.contrib.auth.models import Permission
from rest_framework.throttling import ScopedRateThrottle

from tests.factories import TicketFactory
from tickets.models import TicketPurchase

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict_rates(monkeypatch):
    rates = {**ScopedRateThrottle.THROTTLE_RATES, "purchase_create": "3/minute"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)


def test_purchase_creation_is_rate_limited_per_client_with_retry_after(api_client, strict_rates):
    ticket = TicketFactory()
    body = {
        "ticket_id": ticket.pk,
        "quantity": 1,
        "customer_name": "Ann",
        "customer_email": "ann@example.com",
        "payment_method": "card",
    }
    codes = [
        api_client.post("/api/tickets/purchase/direct/", body, format="json").status_code
        for _ in range(4)
    ]
    assert codes == [202, 202, 202, 429]
    limited = api_client.post("/api/tickets/purchase/direct/", body, format="json")
    assert limited.json()["code"] == "throttled"
    assert 0 < int(limited["Retry-After"]) <= 60
    assert TicketPurchase.objects.count() == 3

    other_client = {"REMOTE_ADDR": "10.9.8.7"}
    other = api_client.post("/api/tickets/purchase/direct/", body, format="json", **other_client)
    assert other.status_code == 202


def test_redeem_is_rate_limited_per_staff_user(api_client, monkeypatch):
    from tests.factories import UserFactory

    rates = {**ScopedRateThrottle.THROTTLE_RATES, "code_redeem": "2/minute"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    door = UserFactory(username="door", is_staff=True)
    door.user_permissions.add(Permission.objects.get(codename="redeem_ticketcode"))
    api_client.force_authenticate(door)
    codes = [
        api_client.post("/api/tickets/codes/TKT-00000000/redeem/").status_code for _ in range(3)
    ]
    assert codes == [404, 404, 429]  # unknown code twice, then throttled
    limited = api_client.post("/api/tickets/codes/TKT-00000000/redeem/")
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
