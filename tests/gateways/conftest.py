"""The gateways' tests: Stripe played by recorded responses (`stripe_http`), or
by localstripe in a process of its own, with a worker and gunicorn paying
through it (`localstripe`, `stripe_worker`, `stripe_web`)."""

import pytest

from gateways.stripe import gateway as stripe_gateway
from gateways.stripe.client import stripe_client
from tests.gateways.localstripe import LocalStripe, LocalStripeUnavailable
from tests.gateways.stripe_fakes import RecordedStripe
from tests.worker_process import WebServer

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


@pytest.fixture
def localstripe(settings):
    """localstripe on a free port; this test process pays through it too."""
    try:
        server = LocalStripe().start()
    except LocalStripeUnavailable as exc:
        pytest.skip(f"localstripe cannot start: {exc}")
    for name, value in server.env().items():
        setattr(settings, name, value if not name.endswith("RETRIES") else int(value))
    settings.STRIPE_ALLOW_TEST_KEYS = True
    yield server
    server.stop()


@pytest.fixture
def stripe_worker(localstripe, start_worker):
    return start_worker("stripe", extra_env=localstripe.env())


@pytest.fixture
def stripe_web(localstripe, stripe_worker):
    """The API under gunicorn, configured for Stripe: localstripe's webhooks go there."""
    server = WebServer(extra_env=localstripe.env()).start()
    localstripe.send_webhooks_to(f"{server.url}/api/payments/webhooks/stripe/")
    yield server
    server.stop()
