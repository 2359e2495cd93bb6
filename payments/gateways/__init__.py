from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from payments.gateways.base import GatewayResult, Outcome, PaymentGateway, TransientGatewayError

__all__ = ["GatewayResult", "Outcome", "PaymentGateway", "TransientGatewayError", "get_gateway"]


def get_gateway() -> PaymentGateway:
    """The gateway named by the PAYMENT_GATEWAY setting."""
    if settings.PAYMENT_GATEWAY == "simulated":
        from payments.gateways.simulated import SimulatedGateway

        return SimulatedGateway()
    raise ImproperlyConfigured(f"Unknown PAYMENT_GATEWAY {settings.PAYMENT_GATEWAY!r}")
