"""The SDK client, built once per process from settings, and amounts in the
currency's minor units as Stripe counts them."""

from decimal import ROUND_HALF_UP, Decimal
from functools import cache

import stripe
from django.conf import settings

# Stripe's zero-decimal currencies: the amount is in whole units (JPY 500 is 500).
ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
# Three-decimal currencies: thousandths, and Stripe wants the last digit 0.
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def minor_units(amount: Decimal, currency: str) -> int:
    """`amount` in the smallest unit Stripe takes for `currency`."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if code in THREE_DECIMAL:
        return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * 10
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def stripe_client(http_client: stripe.HTTPClient | None = None) -> stripe.StripeClient:
    """The configured client; `http_client` replaces the network (tests)."""
    if http_client is not None:
        return _build(http_client)
    return _shared(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_MAX_NETWORK_RETRIES,
        settings.STRIPE_TIMEOUT_SECONDS,
    )


@cache
def _shared(api_key: str, api_base: str, retries: int, timeout: float) -> stripe.StripeClient:
    # One client (and connection pool) per process and configuration.
    return _build(stripe.RequestsClient(timeout=timeout))


def _build(http_client: stripe.HTTPClient) -> stripe.StripeClient:
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY or "sk_test_unset",
        base_addresses=base,
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        http_client=http_client,
    )
