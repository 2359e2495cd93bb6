import pytest

from gateways.stripe import gateway as stripe_gateway
from gateways.stripe.client import stripe_client
from tests.gateways.stripe_fakes import RecordedStripe

WEBHOOK_SECRET = "whsec_test_current"


@pytest.fixture
def stripe_http(settings, monkeypatch) -> RecordedStripe:
    """PAYMENT_GATEWAY=stripe, with every SDK call answered by the returned fake
    (its `routes` filled by the test)."""
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = ""
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    http = RecordedStripe({})
    monkeypatch.setattr(stripe_gateway, "stripe_client", lambda: stripe_client(http_client=http))
    return http
