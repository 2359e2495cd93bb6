"""The payment gateway's settings are checked when settings load, so a web
process and a worker with a gateway they cannot use stop at start-up with a
message saying what to set, instead of failing every charge later."""

from django.core.exceptions import ImproperlyConfigured

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
