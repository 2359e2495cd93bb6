"""The payment gateway's settings are checked when settings load, so a web
process and a worker with a gateway they cannot use stop at start-up with a
message saying what to set, instead of failing every charge later."""

import environ
from django.core.exceptions import ImproperlyConfigured

from project.csp import STRIPE_JS_URL, content_security_policy

# The names PAYMENT_GATEWAY may take; gateways/__init__.py maps them to adapters.
KNOWN_GATEWAYS = ("simulated", "stripe")


def check_payment_gateway(
    *,
    gateway: str,
    debug: bool,
    stripe_secret_key: str,
    stripe_publishable_key: str,
    stripe_webhook_secret: str,
    stripe_allow_test_keys: bool,
) -> None:
    """Raises ImproperlyConfigured for a gateway this code has no adapter for,
    Stripe without its three keys, test keys in production without an explicit
    allowance, and live keys in DEBUG."""
    if gateway not in KNOWN_GATEWAYS:
        raise ImproperlyConfigured(
            f"Unknown PAYMENT_GATEWAY {gateway!r}: set it to one of {', '.join(KNOWN_GATEWAYS)}."
        )
    if gateway != "stripe":
        return
    missing = [
        name
        for name, value in (
            ("STRIPE_SECRET_KEY", stripe_secret_key),
            ("STRIPE_PUBLISHABLE_KEY", stripe_publishable_key),
            ("STRIPE_WEBHOOK_SECRET", stripe_webhook_secret),
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(
            f"PAYMENT_GATEWAY is 'stripe' but {', '.join(missing)} is not set: set "
            "them from the Stripe dashboard (see docs/going-live-stripe.md)."
        )
    if not stripe_secret_key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
        raise ImproperlyConfigured("STRIPE_SECRET_KEY must be a Stripe secret key (sk_...).")
    if not stripe_webhook_secret.startswith("whsec_"):
        raise ImproperlyConfigured(
            "STRIPE_WEBHOOK_SECRET must be the endpoint's signing secret (whsec_...)."
        )
    live = "_live_" in stripe_secret_key
    if live != stripe_publishable_key.startswith("pk_live_"):
        raise ImproperlyConfigured(
            "STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY must both be test or both live keys."
        )
    if live and debug:
        raise ImproperlyConfigured(
            "Live Stripe keys never run with DEBUG on: set DEBUG=false, or use test keys."
        )
    if not live and not debug and not stripe_allow_test_keys:
        raise ImproperlyConfigured(
            "Stripe test keys with DEBUG off take no real money: use live keys, or set "
            "STRIPE_ALLOW_TEST_KEYS=true for a staging deployment."
        )


def gateway_settings(env: environ.Env, *, gateway: str, debug: bool) -> dict[str, object]:
    """Stripe's settings (PAYMENT_GATEWAY=stripe; docs/going-live-stripe.md), checked
    here, and the Content-Security-Policy that follows them."""
    stripe = {
        "STRIPE_SECRET_KEY": env.str("STRIPE_SECRET_KEY", default=""),
        "STRIPE_PUBLISHABLE_KEY": env.str("STRIPE_PUBLISHABLE_KEY", default=""),
        "STRIPE_WEBHOOK_SECRET": env.str("STRIPE_WEBHOOK_SECRET", default=""),
        # Unset in production; the tests point it at a local fake (localstripe).
        "STRIPE_API_BASE": env.str("STRIPE_API_BASE", default=""),
        "STRIPE_ALLOW_TEST_KEYS": env.bool("STRIPE_ALLOW_TEST_KEYS", default=False),
        # Where the storefront loads Stripe.js from (the tests: localstripe's fake of it).
        "STRIPE_JS_URL": env.str("STRIPE_JS_URL", default=STRIPE_JS_URL),
        # The SDK's own retries of a request (same idempotency key) before it gives up.
        "STRIPE_MAX_NETWORK_RETRIES": env.int("STRIPE_MAX_NETWORK_RETRIES", default=2),
        # How long one request to Stripe may take before it counts as a connection error.
        "STRIPE_TIMEOUT_SECONDS": env.float("STRIPE_TIMEOUT_SECONDS", default=15.0),
        # Stripe has no batch call: a batch's charges run on this many threads at once.
        "STRIPE_BATCH_CONCURRENCY": env.int("STRIPE_BATCH_CONCURRENCY", default=8),
        # A batch stops waiting for its charges after this (well inside the task's time
        # limit); a charge not answered by then is asked again by its own task.
        "STRIPE_BATCH_DEADLINE_SECONDS": env.float("STRIPE_BATCH_DEADLINE_SECONDS", default=30.0),
    }
    check_payment_gateway(
        gateway=gateway,
        debug=debug,
        stripe_secret_key=stripe["STRIPE_SECRET_KEY"],
        stripe_publishable_key=stripe["STRIPE_PUBLISHABLE_KEY"],
        stripe_webhook_secret=stripe["STRIPE_WEBHOOK_SECRET"],
        stripe_allow_test_keys=stripe["STRIPE_ALLOW_TEST_KEYS"],
    )
    stripe["CONTENT_SECURITY_POLICY"] = content_security_policy(
        gateway=gateway,
        stripe_js_url=stripe["STRIPE_JS_URL"],
        stripe_api_base=stripe["STRIPE_API_BASE"],
    )
    return stripe
