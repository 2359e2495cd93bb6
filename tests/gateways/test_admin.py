import pytest

from gateways.models import StripeCharge, StripeRefund, WebhookEvent

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


def test_stripe_intents_and_refunds_are_found_by_our_key_read_only(admin_client):
    StripeCharge.objects.create(key="purchase-key", intent_id="pi_123")
    StripeRefund.objects.create(
        key="purchase-key:refund", refund_id="re_9", charge_key="purchase-key"
    )
    page = admin_client.get("/admin/gateways/stripecharge/", {"q": "purchase-key"})
    assert "pi_123" in page.content.decode()
    page = admin_client.get("/admin/gateways/striperefund/", {"q": "purchase-key"})
    assert "re_9" in page.content.decode()
    assert admin_client.get("/admin/gateways/stripecharge/add/").status_code == 403
