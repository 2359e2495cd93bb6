"""Stripe's webhooks: the signature checked by the SDK, and what each event
is about.

`Stripe-Signature` is `t=<unix time>,v1=<hmac>[,v1=<hmac>...]` (several v1
while a secret is rolled); the SDK accepts the event when any v1 matches one of
our secrets (STRIPE_WEBHOOK_SECRET may list two, comma-separated, while we roll
ours) within PAYMENT_WEBHOOK_TOLERANCE_SECONDS. An event's body is never
trusted about the outcome: it only names the PaymentIntent, whose charge key we
recorded; the worker then retrieves the intent (gateways/webhooks.py).
"""

import json
from dataclasses import dataclass

import stripe
from django.conf import settings

from gateways.signing import (
    WebhookSignatureInvalid,
    WebhooksNotConfigured,
    WebhookTimestampOutOfRange,
    WebhookUnsigned,
)

SIGNATURE_HEADER = "Stripe-Signature"

# Events whose PaymentIntent's outcome the product reconciles.
PAYMENT_EVENTS = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.processing",
        "payment_intent.canceled",
        "payment_intent.requires_action",
        "charge.refunded",
        "charge.refund.updated",
        "refund.updated",
        "refund.failed",
    }
)


# Events about a card holder's dispute: the worker retrieves the dispute.
DISPUTE_EVENTS = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    }
)


@dataclass(frozen=True)
class StripeEvent:
    id: str
    type: str
    intent_id: str  # the PaymentIntent it is about; "" when none, or not handled
    payload: dict
    dispute_id: str = ""  # the dispute it is about, for DISPUTE_EVENTS


def event_verify(*, body: bytes, signature: str | None) -> StripeEvent:
    """The event, once its signature is proven; raises a WebhookRejected."""
    secrets = [s.strip() for s in settings.STRIPE_WEBHOOK_SECRET.split(",") if s.strip()]
    if not secrets:
        raise WebhooksNotConfigured()
    if not signature:
        raise WebhookUnsigned(f"The {SIGNATURE_HEADER} header is required.")
    payload = _verified(body, signature, secrets)
    try:
        return _event(payload)
    except (KeyError, TypeError) as exc:
        raise WebhookSignatureInvalid("Signed, but not a Stripe event.") from exc


def _verified(body: bytes, signature: str, secrets: list[str]) -> dict:
    tolerance = settings.PAYMENT_WEBHOOK_TOLERANCE_SECONDS
    error: stripe.SignatureVerificationError | None = None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(body.decode(), signature, secret, tolerance)
        except stripe.SignatureVerificationError as exc:
            error = exc
            continue
        except UnicodeDecodeError as exc:
            raise WebhookSignatureInvalid("The body is not UTF-8.") from exc
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise WebhookSignatureInvalid("Signed, but not a JSON object.")
        return payload
    if error is not None and "tolerance" in str(error):
        raise WebhookTimestampOutOfRange()
    raise WebhookSignatureInvalid()


def _event(payload: dict) -> StripeEvent:
    event_type = str(payload["type"])
    obj = payload["data"]["object"]
    intent_id = ""
    if event_type in PAYMENT_EVENTS:
        intent_id = obj["id"] if obj.get("object") == "payment_intent" else obj["payment_intent"]
    dispute_id = str(obj["id"]) if event_type in DISPUTE_EVENTS else ""
    return StripeEvent(str(payload["id"]), event_type, str(intent_id or ""), payload, dispute_id)
