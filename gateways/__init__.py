"""The payment gateway interface both products share, and the configured gateway."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from gateways.base import (
    ChargeRequest,
    Dispute,
    DisputeState,
    GatewayResult,
    Outcome,
    PaymentGateway,
    RefundOutcome,
    RefundResult,
    TransientGatewayError,
)
from gateways.metrics import MeasuredGateway
from gateways.simulated import SimulatedGateway
from gateways.stripe.gateway import PAYMENT_METHODS as STRIPE_PAYMENT_METHODS
from gateways.stripe.gateway import StripeGateway

__all__ = [
    "ChargeRequest",
    "Dispute",
    "DisputeState",
    "GatewayResult",
    "Outcome",
    "PaymentGateway",
    "RefundOutcome",
    "RefundResult",
    "TransientGatewayError",
    "get_gateway",
    "payment_method_accepted",
]

# Each adapter under the name PAYMENT_GATEWAY selects (project/gateway_settings.py
# refuses any other name at start-up).
GATEWAYS: dict[str, type[PaymentGateway]] = {
    "simulated": SimulatedGateway,
    "stripe": StripeGateway,
}
# The payment methods a gateway can take; one not listed takes all of them.
PAYMENT_METHODS: dict[str, frozenset[str]] = {"stripe": STRIPE_PAYMENT_METHODS}


def get_gateway() -> PaymentGateway:
    """The gateway named by the PAYMENT_GATEWAY setting."""
    gateway_class = GATEWAYS.get(settings.PAYMENT_GATEWAY)
    if gateway_class is None:
        raise ImproperlyConfigured(f"Unknown PAYMENT_GATEWAY {settings.PAYMENT_GATEWAY!r}")
    return MeasuredGateway(gateway_class())


def payment_method_accepted(method: str) -> bool:
    """Whether the configured gateway can take `method` (Stripe: cards only)."""
    accepted = PAYMENT_METHODS.get(settings.PAYMENT_GATEWAY)
    return accepted is None or method in accepted
