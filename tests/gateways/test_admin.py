import pytest

from gateways.models import WebhookEvent

pytestmark = pytest.mark.django_db


def test_webhook_events_are_listed_read_only(admin_client):
    WebhookEvent.objects.create(
        gateway="simulated", event_id="evt_123", kind="ticket_purchase", payload={}
    )
    page = admin_client.get("/admin/gateways/webhookevent/").content.decode()
    assert "evt_123" in page
    assert admin_client.get("/admin/gateways/webhookevent/add/").status_code == 403


def test_the_old_admin_address_of_webhook_events_redirects(admin_client):
    response = admin_client.get("/admin/payments/webhookevent/?kind=ticket_purchase")
    assert response.status_code == 302
    assert response["Location"] == "/admin/gateways/webhookevent/?kind=ticket_purchase"
