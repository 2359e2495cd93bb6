"""What Stripe answers, mapped to our outcomes once and explicitly.

A PaymentIntent's status says where the charge stands; an error says the call
failed: a card error is a decline (Stripe's `decline_code` kept as the
reason), a connection error, a rate limit or a 5xx is transient (the task's
backoff), and any other answer is resolved by retrieving the intent.
"""

from typing import Any

import stripe

from gateways.base import DisputeState, GatewayResult, Outcome, RefundOutcome, RefundResult

# Errors that say nothing about the charge: ask again later, under the same key.
TRANSIENT_ERRORS = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)


def intent_result(intent: Any) -> GatewayResult:
    """A PaymentIntent's status as a GatewayResult; the reference is its id."""
    status = intent["status"]
    reference = intent["id"]
    if status == "succeeded":
        return GatewayResult(Outcome.CAPTURED, reference)
    if status in ("processing", "requires_capture"):
        return GatewayResult(Outcome.PENDING, reference)
    if status == "requires_action":
        return GatewayResult(
            Outcome.REQUIRES_ACTION, reference, client_secret=intent["client_secret"] or ""
        )
    if status == "canceled":
        reason = _get(intent, "cancellation_reason") or "canceled"
        return GatewayResult(Outcome.DECLINED, reference, f"canceled:{reason}"[:64])
    error = _get(intent, "last_payment_error")
    if status == "requires_payment_method" and error:
        return GatewayResult(Outcome.DECLINED, reference, _error_reason(error))
    # requires_confirmation (created, never confirmed), or no payment method:
    # no charge was attempted under this intent.
    return GatewayResult(Outcome.NOT_FOUND, reference)


def card_error_result(exc: stripe.CardError, intent_id: str = "") -> GatewayResult:
    error = (exc.json_body or {}).get("error") or {}
    reason = error.get("decline_code") or exc.code or "card_declined"
    return GatewayResult(Outcome.DECLINED, intent_id, str(reason)[:64])


def refund_result(refund: Any) -> RefundResult:
    """A Refund's status: succeeded is refunded, pending (or waiting for the
    buyer's details) is pending, failed and canceled refunded nothing."""
    status = refund["status"]
    if status == "succeeded":
        return RefundResult(RefundOutcome.REFUNDED, refund["id"])
    if status in ("pending", "requires_action"):
        return RefundResult(RefundOutcome.PENDING, refund["id"])
    reason = _get(refund, "failure_reason") or status or "failed"
    return RefundResult(RefundOutcome.NOT_REFUNDED, refund["id"], str(reason)[:64])


# A dispute's status: the money is ours again (won; a warning closed without a
# chargeback), gone for good (lost), or still in question (every other status).
DISPUTE_CLOSED = {
    "won": DisputeState.WON,
    "warning_closed": DisputeState.WON,
    "lost": DisputeState.LOST,
}


def dispute_state(dispute: Any) -> DisputeState:
    return DISPUTE_CLOSED.get(str(dispute["status"]), DisputeState.OPEN)


def _get(obj: Any, name: str) -> Any:
    """A field of a Stripe object (not a dict: no .get) or None when absent."""
    try:
        return obj[name]
    except KeyError:
        return None


def _error_reason(error: Any) -> str:
    reason = _get(error, "decline_code") or _get(error, "code") or "payment_failed"
    return str(reason)[:64]
