"""The payment gateway interface that ticket purchases and destination bookings
share. A real processor plugs in behind the same calls.

Every call is keyed by an idempotency key, so a retried or redelivered task can
never capture the same payment twice: a charge by the purchase or payment id, a
refund by a key of its own (gateways/attempt.py `refund_key`), since a real
gateway refuses a key reused on another endpoint.
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
    # The buyer must authenticate the payment (3-D Secure) in the browser with
    # `client_secret`; the outcome arrives later, by webhook or the sweep.
    REQUIRES_ACTION = "requires_action"


@dataclass(frozen=True)
class GatewayResult:
    outcome: Outcome
    reference: str = ""
    reason: str = ""
    # Only with REQUIRES_ACTION: what the buyer's browser needs to authenticate.
    client_secret: str = ""


class RefundOutcome(StrEnum):
    REFUNDED = "refunded"  # the money is back with the buyer
    PENDING = "pending"  # accepted; the gateway has not finished it yet
    NOT_REFUNDED = "not_refunded"  # definitely not: refused, or failed at the gateway


@dataclass(frozen=True)
class RefundResult:
    """What a gateway says of a refund. An answer that never came (a timeout, a
    connection reset) is no result at all: `refund` raises TransientGatewayError
    and the refund's outcome is unknown until `lookup_refund` knows it."""

    outcome: RefundOutcome
    reference: str = ""
    reason: str = ""


class DisputeState(StrEnum):
    OPEN = "open"  # the card holder's bank took the money back, for now
    WON = "won"  # the money stays with us
    LOST = "lost"  # the money went back to the card holder for good


@dataclass(frozen=True)
class Dispute:
    """A card holder's dispute, as the gateway holds it: `key` is the idempotency
    key of the charge disputed, empty when the charge is not one of ours."""

    key: str
    state: DisputeState
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


def charge_answer(gateway, request: ChargeRequest) -> "GatewayResult | TransientGatewayError":
    """One charge of a batch through `gateway.charge`: a transient error is its
    answer, returned in its place, so the batch's other charges still count."""
    try:
        return gateway.charge(
            idempotency_key=request.idempotency_key,
            amount=request.amount,
            currency=request.currency,
            token=request.token,
        )
    except TransientGatewayError as exc:
        return exc


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

    def cancel(self, *, idempotency_key: str) -> GatewayResult:
        """Cancels a charge still waiting for its buyer (3-D Secure), so it can
        no longer capture; answers what the gateway holds afterwards (CAPTURED
        when the buyer was faster: the caller gives that money back)."""
        ...

    def refund(self, *, idempotency_key: str, charge_key: str, amount: Decimal) -> RefundResult:
        """Refunds the charge made under `charge_key`, keyed by `idempotency_key`:
        asked again under the same key, it answers the same refund."""
        ...

    def lookup_refund(self, *, idempotency_key: str) -> RefundResult | None:
        """The refund made under `idempotency_key`, None when the gateway holds
        none (it never received the request)."""
        ...

    def lookup_dispute(self, *, dispute_id: str) -> Dispute | None:
        """The dispute as the gateway holds it now (an event's body is never
        trusted), None for a gateway without disputes or an unknown id."""
        ...
