"""The payment gateway interface both products share, and the configured gateway."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from gateways.base import (
    ChargeRequest,
    GatewayResult,
    Outcome,
    PaymentGateway,
    RefundOutcome,
    RefundResult,
    TransientGatewayError,
)
from gateways.simulated import SimulatedGateway

__all__ = [
    "ChargeRequest",
    "GatewayResult",
    "Outcome",
    "PaymentGateway",
    "RefundOutcome",
    "RefundResult",
    "TransientGatewayError",
    "get_gateway",
]

# A real processor's adapter is added here under the name PAYMENT_GATEWAY selects.
GATEWAYS: dict[str, type[PaymentGateway]] = {"simulated": SimulatedGateway}


def get_gateway() -> PaymentGateway:
    """The gateway named by the PAYMENT_GATEWAY setting."""
    gateway_class = GATEWAYS.get(settings.PAYMENT_GATEWAY)
    if gateway_class is None:
        raise ImproperlyConfigured(f"Unknown PAYMENT_GATEWAY {settings.PAYMENT_GATEWAY!r}")
    return gateway_class()
