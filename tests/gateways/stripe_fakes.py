"""Stripe as its API answers, without the network: a `stripe.HTTPClient` that
plays recorded responses (shapes of the real API's JSON), and Stripe's
webhook signature. What localstripe cannot do (declines with a decline_code,
timeouts, 429, 500, `processing`, refunds pending or failed) is played here.
"""

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import stripe

INTENT_ID = "pi_3QfakeIntent0001"
CLIENT_SECRET = f"{INTENT_ID}_secret_fakeSecret"
REFUND_ID = "re_3QfakeRefund0001"


def intent(status: str, **extra) -> dict:
    """A PaymentIntent as the API returns it (the fields the adapter reads, and a few more)."""
    return {
        "id": INTENT_ID,
        "object": "payment_intent",
        "amount": 5000,
        "amount_received": 5000 if status == "succeeded" else 0,
        "currency": "usd",
        "status": status,
        "client_secret": CLIENT_SECRET,
        "capture_method": "automatic",
        "confirmation_method": "automatic",
        "cancellation_reason": None,
        "last_payment_error": None,
        "latest_charge": "ch_3Qfake0001" if status in ("succeeded", "processing") else None,
        "livemode": False,
        "metadata": {},
        "next_action": (
            {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
            if status == "requires_action"
            else None
        ),
        "payment_method": "pm_card_visa",
        "payment_method_types": ["card"],
        **extra,
    }


def card_declined(decline_code: str = "insufficient_funds") -> tuple[int, dict]:
    """The 402 a confirm answers for a declined card."""
    failed = intent(
        "requires_payment_method",
        last_payment_error={
            "type": "card_error",
            "code": "card_declined",
            "decline_code": decline_code,
            "message": "Your card has insufficient funds.",
        },
    )
    return 402, {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": decline_code,
            "message": "Your card has insufficient funds.",
            "charge": "ch_3Qfake0002",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "payment_intent": failed,
        }
    }


def api_error(status: int) -> tuple[int, dict]:
    kinds = {429: ("rate_limit", "Too many requests"), 500: ("api_error", "Something went wrong")}
    code, message = kinds.get(status, ("api_error", "error"))
    return status, {"error": {"type": "api_error", "code": code, "message": message}}


def refund(status: str, **extra) -> dict:
    return {
        "id": REFUND_ID,
        "object": "refund",
        "amount": 5000,
        "currency": "usd",
        "payment_intent": INTENT_ID,
        "charge": "ch_3Qfake0001",
        "status": status,
        "failure_reason": "expired_or_canceled_card" if status == "failed" else None,
        "metadata": {},
        **extra,
    }


DISPUTE_ID = "dp_1QfakeDispute01"


def dispute(status: str, **extra) -> dict:
    """A Dispute as the API returns it (status: warning_needs_response,
    warning_under_review, warning_closed, needs_response, under_review, won, lost)."""
    return {
        "id": DISPUTE_ID,
        "object": "dispute",
        "amount": 5000,
        "currency": "usd",
        "charge": "ch_3Qfake0001",
        "payment_intent": INTENT_ID,
        "reason": "fraudulent",
        "status": status,
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        **extra,
    }


def timeout() -> stripe.APIConnectionError:
    return stripe.APIConnectionError("Request timed out", should_retry=True)


Reply = tuple[int, dict] | dict | Exception | Callable[[], "Reply"]


class RecordedStripe(stripe.HTTPClient):
    """Answers each `(METHOD, path)` from a queue of replies (the last one
    repeats); records every call with its Idempotency-Key and form body."""

    name = "recorded"

    def __init__(self, routes: dict[tuple[str, str], list[Reply]]):
        super().__init__()
        self.routes = {key: list(replies) for key, replies in routes.items()}
        self.calls: list[tuple[str, str, str | None, dict]] = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        path = urlsplit(url).path
        key = (method.upper(), path)
        self.calls.append(
            (key[0], path, (headers or {}).get("Idempotency-Key"), parse_qs(post_data or ""))
        )
        replies = self.routes.get(key)
        if not replies:
            return json.dumps({"error": {"type": "invalid_request_error"}}), 404, {}
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        while callable(reply):
            reply = reply()
        if isinstance(reply, Exception):
            raise reply
        status, body = reply if isinstance(reply, tuple) else (200, reply)
        return json.dumps(body), status, {"request-id": "req_fake"}

    def request_stream(self, *args, **kwargs):
        raise NotImplementedError

    def close(self):
        pass

    def paths(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _, _ in self.calls]


def signature(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """One `v1` of a `Stripe-Signature` header (what Stripe computes)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def event(event_type: str, obj: dict, *, event_id: str = "evt_1Qfake0001") -> dict:
    """An Event as Stripe sends it to an endpoint."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": obj},
    }
