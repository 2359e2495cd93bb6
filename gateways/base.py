"""The payment gateway interface that ticket purchases and destination bookings
share. A real processor plugs in behind the same three calls.

Every call is keyed by an idempotency key (the purchase or payment id), so a
retried or redelivered task can never capture the same payment twice.
"""

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from project.errors import DependencyUnavailable


class Outcome(StrEnum):
    CAPTURED = "captured"
    DECLINED = "declined"
    PENDING = "pending"  # the gateway gave no answer yet
    NOT_FOUND = "not_found"  # the gateway holds no charge under that key
    REFUNDED = "refunded"


@dataclass(frozen=True)
class GatewayResult:
    outcome: Outcome
    reference: str = ""
    reason: str = ""


@dataclass(frozen=True)
class ChargeRequest:
    idempotency_key: str
    amount: Decimal
    currency: str
    token: str


class TransientGatewayError(DependencyUnavailable):
    """The gateway could not be reached or answered with a retryable error."""

    code = "gateway_unavailable"
    default_detail = "The payment gateway could not be reached; nothing was changed. Try again."


class PaymentGateway(Protocol):
    name: str

    def charge(
        self, *, idempotency_key: str, amount: Decimal, currency: str, token: str
    ) -> GatewayResult: ...

    def charge_batch(
        self, requests: list[ChargeRequest]
    ) -> list[GatewayResult | TransientGatewayError]:
        """Charges several at once (one round trip where the processor allows
        it): one answer per request, in order; a transient error is returned in
        its place, not raised, so the others still count."""
        ...

    def lookup(self, *, idempotency_key: str) -> GatewayResult: ...

    def refund(self, *, idempotency_key: str, amount: Decimal) -> GatewayResult: ...
