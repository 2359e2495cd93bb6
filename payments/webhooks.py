"""Gateway webhooks: verify the signature, store the event once, and let a
worker ask the gateway what really happened.

A callback proves where it came from with an HMAC-SHA256 over
`{timestamp}.{raw body}` under the secret shared with the gateway. A timestamp
more than PAYMENT_WEBHOOK_TOLERANCE_SECONDS from now is refused, so a captured
request cannot be replayed later; within that window the unique
(gateway, event_id) turns a replay into a no-op. The event's own claims about
the outcome are never applied: the worker looks the payment up at the gateway
and reconciles with that.
"""

import hashlib
import hmac
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone

from payments.models import WebhookEvent
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


# --- Receiving --------------------------------------------------------------------


def webhook_receive(
    *, gateway: str, event_id: str, event_type: str, kind: str, object_id: str, payload: dict
) -> tuple[WebhookEvent, bool]:
    """Stores a verified event once and enqueues its processing after commit.

    Returns (event, created); created is False for an event id already known,
    which is then left alone: its first delivery is the one processed.
    """
    with transaction.atomic():
        event, created = WebhookEvent.objects.get_or_create(
            gateway=gateway,
            event_id=event_id,
            defaults={
                "event_type": event_type,
                "kind": kind,
                "object_id": object_id,
                "payload": payload,
            },
        )
        if created:
            _enqueue_processing(event.pk)
    if not created:
        logger.info("webhook %s:%s: duplicate, ignored", gateway, event_id)
    return event, created


def _enqueue_processing(event_pk: int) -> None:
    from workers.webhook_tasks import process_webhook_event

    transaction.on_commit(lambda: process_webhook_event.delay(event_pk))


# --- Processing (in a worker) -----------------------------------------------------


def _reconcile_ticket_purchase(object_id: str) -> str:
    from tickets.services import purchase_reconcile_payment

    purchase = purchase_reconcile_payment(purchase_id=object_id)
    return f"ticket purchase {purchase.status}, payment {purchase.payment_status}"


def _reconcile_booking_payment(object_id: str) -> str:
    from payments.services import payment_reconcile

    reconciliation = payment_reconcile(payment_id=object_id)
    return f"booking payment {reconciliation.payment.status}: {reconciliation.action}"


# What each kind of object the gateway reports on is reconciled with. Each one
# asks the gateway for the payment's real outcome and applies that.
RECONCILERS: dict[str, Callable[[str], str]] = {
    "ticket_purchase": _reconcile_ticket_purchase,
    "booking_payment": _reconcile_booking_payment,
}


def webhook_event_process(*, event_pk: int) -> WebhookEvent:
    """Reconciles the object an event is about, once. Safe to run twice: the
    reconcile services are idempotent, and a processed event is skipped.

    TransientGatewayError propagates for the task to retry.
    """
    event = WebhookEvent.objects.get(pk=event_pk)
    if event.processed_at is not None:
        return event
    reconcile = RECONCILERS.get(event.kind)
    if reconcile is None:
        result = f"ignored: no handler for kind {event.kind!r}"
    else:
        try:
            result = reconcile(event.object_id)
        except ObjectDoesNotExist:
            result = f"ignored: no {event.kind} {event.object_id}"
        except DomainError as exc:
            result = f"refused: {exc.detail}"
    logger.info("webhook %s: %s", event, result)
    WebhookEvent.objects.filter(pk=event.pk, processed_at__isnull=True).update(
        processed_at=timezone.now(), result=result[:200]
    )
    event.refresh_from_db()
    return event
