"""Settings fail closed: with DEBUG off nothing simulates a payment unless an
operator said so, and the TLS-proxy settings make URLs https when the proxy says.

Settings are read once per process, so each environment is loaded in a fresh
interpreter, as a deployment would load it."""

import json
import os
import subprocess
import sys

import pytest

from tests.factories import PurchaseFactory, TicketFactory
from tests.worker_process import ROOT

# What the test suite's own environment sets (conftest.py) and a deployment would not.
SUITE_ONLY = (
    "DEBUG",
    "SIMULATED_GATEWAY_ALLOWED",
    "PAYMENT_SIMULATION_ENABLED",
    "PAYMENT_GATEWAY",
    "TRUST_X_FORWARDED_PROTO",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_SSL_REDIRECT",
)
READ = (
    "DEBUG",
    "PAYMENT_GATEWAY",
    "SIMULATED_GATEWAY_ALLOWED",
    "PAYMENT_SIMULATION_ENABLED",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_SSL_REDIRECT",
)
PROBE = (
    "import json; from django.conf import settings; "
    f"print(json.dumps({{name: getattr(settings, name, None) for name in {READ!r}}}))"
)


def load_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SUITE_ONLY}
    clean.update({"DJANGO_SETTINGS_MODULE": "project.settings", "SECRET_KEY": "x", **env})
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def resolved(**env: str) -> dict:
    loaded = load_settings(**env)
    assert loaded.returncode == 0, loaded.stderr
    return json.loads(loaded.stdout.strip().splitlines()[-1])


# --- the simulated gateway -----------------------------------------------------------------


def test_without_debug_and_without_an_allowance_the_simulated_gateway_refuses_to_start():
    loaded = load_settings(DEBUG="false")
    assert loaded.returncode != 0
    assert "ImproperlyConfigured" in loaded.stderr
    assert "SIMULATED_GATEWAY_ALLOWED" in loaded.stderr


def test_debug_off_with_the_gateway_allowed_still_keeps_simulate_payment_off():
    values = resolved(DEBUG="false", SIMULATED_GATEWAY_ALLOWED="true")
    assert values["PAYMENT_GATEWAY"] == "simulated"
    assert values["PAYMENT_SIMULATION_ENABLED"] is False


def test_debug_allows_the_simulated_gateway_and_its_callback_by_default():
    values = resolved(DEBUG="true")
    assert values["SIMULATED_GATEWAY_ALLOWED"] is True
    assert values["PAYMENT_SIMULATION_ENABLED"] is True


LIVE_STRIPE = {
    "PAYMENT_GATEWAY": "stripe",
    "STRIPE_SECRET_KEY": "sk_live_123",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_123",
    "STRIPE_WEBHOOK_SECRET": "whsec_123",
}
TEST_STRIPE = {
    **LIVE_STRIPE,
    "STRIPE_SECRET_KEY": "sk_test_123",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_123",
}


def test_another_gateway_needs_no_allowance():
    values = resolved(DEBUG="false", **LIVE_STRIPE)
    assert values["PAYMENT_GATEWAY"] == "stripe"
    assert values["SIMULATED_GATEWAY_ALLOWED"] is False
    assert values["PAYMENT_SIMULATION_ENABLED"] is False


# --- start-up refuses a gateway it cannot use -------------------------------------------


def refused(**env: str) -> str:
    loaded = load_settings(**env)
    assert loaded.returncode != 0
    assert "ImproperlyConfigured" in loaded.stderr
    return loaded.stderr


def test_an_unknown_gateway_stops_start_up_naming_the_known_ones():
    stderr = refused(DEBUG="false", PAYMENT_GATEWAY="acme")
    assert "Unknown PAYMENT_GATEWAY 'acme'" in stderr
    assert "simulated, stripe" in stderr


def test_stripe_without_its_keys_says_which_to_set():
    stderr = refused(DEBUG="false", PAYMENT_GATEWAY="stripe", STRIPE_SECRET_KEY="sk_live_1")
    assert "STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET is not set" in stderr


def test_stripe_test_keys_without_debug_need_an_explicit_allowance():
    assert "STRIPE_ALLOW_TEST_KEYS" in refused(DEBUG="false", **TEST_STRIPE)
    values = resolved(DEBUG="false", STRIPE_ALLOW_TEST_KEYS="true", **TEST_STRIPE)
    assert values["PAYMENT_GATEWAY"] == "stripe"
    assert resolved(DEBUG="true", **TEST_STRIPE)["PAYMENT_GATEWAY"] == "stripe"


def test_live_stripe_keys_never_run_with_debug_on():
    assert "never run with DEBUG on" in refused(DEBUG="true", **LIVE_STRIPE)


def test_stripe_keys_of_two_modes_are_refused():
    stderr = refused(DEBUG="false", **{**LIVE_STRIPE, "STRIPE_PUBLISHABLE_KEY": "pk_test_1"})
    assert "must both be test or both live" in stderr


def test_simulation_can_still_be_switched_on_explicitly():
    values = resolved(
        DEBUG="false", SIMULATED_GATEWAY_ALLOWED="true", PAYMENT_SIMULATION_ENABLED="true"
    )
    assert values["PAYMENT_SIMULATION_ENABLED"] is True


@pytest.mark.django_db
def test_simulate_payment_is_404_when_debug_is_off_and_nothing_is_set(api_client, settings):
    off = resolved(DEBUG="false", SIMULATED_GATEWAY_ALLOWED="true")
    settings.PAYMENT_SIMULATION_ENABLED = off["PAYMENT_SIMULATION_ENABLED"]
    purchase = PurchaseFactory(payment_token="")
    url = f"/api/tickets/purchase/{purchase.pk}/simulate-payment/"
    response = api_client.post(url, {"outcome": "success"}, format="json")
    assert response.status_code == 404
    purchase.refresh_from_db()
    assert purchase.status == "pending" and purchase.payment_status == "pending"


# --- behind a TLS proxy --------------------------------------------------------------------


def test_tls_proxy_settings_default_to_safe_values():
    production = resolved(DEBUG="false", SIMULATED_GATEWAY_ALLOWED="true")
    assert production["SECURE_PROXY_SSL_HEADER"] is None  # X-Forwarded-Proto not believed
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["CSRF_COOKIE_SECURE"] is True
    assert production["SECURE_HSTS_SECONDS"] == 0
    assert production["SECURE_SSL_REDIRECT"] is False
    development = resolved(DEBUG="true")
    assert development["SESSION_COOKIE_SECURE"] is False
    assert development["CSRF_COOKIE_SECURE"] is False


def test_tls_proxy_settings_follow_the_environment():
    values = resolved(
        DEBUG="true",
        TRUST_X_FORWARDED_PROTO="true",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_SSL_REDIRECT="true",
        SESSION_COOKIE_SECURE="true",
    )
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True


def create(api_client, **meta):
    ticket = TicketFactory()
    body = {
        "ticket_id": ticket.pk,
        "quantity": 1,
        "customer_name": "Ann Buyer",
        "customer_email": "ann@example.com",
        "payment_method": "card",
        "payment_token": "tok_success",
    }
    # Host as a proxy forwards it (the test client's default adds SERVER_PORT 80).
    meta.setdefault("HTTP_HOST", "testserver")
    return api_client.post("/api/tickets/purchase/direct/", body, format="json", **meta)


@pytest.mark.django_db
def test_location_is_https_when_the_trusted_proxy_says_so(api_client, settings, published):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = create(api_client, HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 202
    assert response["Location"].startswith("https://testserver/api/tickets/purchase/")


@pytest.mark.django_db
def test_x_forwarded_proto_is_not_believed_unless_configured(api_client, settings, published):
    settings.SECURE_PROXY_SSL_HEADER = None
    response = create(api_client, HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 202
    assert response["Location"].startswith("http://testserver/")
