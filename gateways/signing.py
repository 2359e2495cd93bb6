"""Gateway callbacks prove where they came from.

A callback carries an HMAC-SHA256 over `{timestamp}.{raw body}` under the secret
shared with the gateway. A timestamp more than PAYMENT_WEBHOOK_TOLERANCE_SECONDS
from now is refused, so a captured request cannot be replayed later; within
that window the stored event's unique id turns a replay into a no-op.
"""

import hashlib
import hmac
import logging
import time

from django.conf import settings

from project.errors import DomainError

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Signature-Timestamp"


class WebhookRejected(DomainError):
    code = "webhook_rejected"
    http_status = 403
    default_detail = "The webhook was refused."


class WebhookUnsigned(WebhookRejected):
    code = "signature_missing"
    http_status = 401
    default_detail = f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} headers are required."


class WebhookSignatureInvalid(WebhookRejected):
    code = "signature_invalid"
    default_detail = "The signature does not match the body and timestamp."


class WebhookTimestampOutOfRange(WebhookRejected):
    code = "timestamp_out_of_range"
    default_detail = "The signature's timestamp is too old or in the future."


class WebhooksNotConfigured(WebhookRejected):
    code = "webhooks_not_configured"
    default_detail = "Webhooks are not accepted: no signing secret is configured."


# --- Verification -----------------------------------------------------------------


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of `{timestamp}.{body}`: what the gateway sends."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def webhook_verify(
    *, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None
) -> None:
    """Raises a WebhookRejected unless the body was signed with our secret within
    the tolerance window. Checks the exact bytes received, before any parsing."""
    secret = settings.PAYMENT_WEBHOOK_SECRET
    if not secret:
        logger.error("webhook refused: PAYMENT_WEBHOOK_SECRET is not set")
        raise WebhooksNotConfigured()
    if not timestamp or not signature:
        raise WebhookUnsigned()
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise WebhookSignatureInvalid("The signature's timestamp is not a Unix time.")
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise WebhookSignatureInvalid()
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > settings.PAYMENT_WEBHOOK_TOLERANCE_SECONDS:
        raise WebhookTimestampOutOfRange()
