"""Gateway webhooks: store each verified event once, and let a worker ask the
gateway what really happened.

The event's own claims about the outcome are never applied: the worker looks
the payment up at the gateway, through the reconciler the owning product
registered for the event's kind (gateways/registry.py).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone

from gateways import get_gateway
from gateways.models import WebhookEvent
from gateways.registry import owner_of, payment_owners
from project.errors import DomainError
from project.queue import enqueue_on_commit
from project.sweeps import delete_in_batches, sweep
from project.tasks import WEBHOOK_EVENT_TASK

logger = logging.getLogger(__name__)

# The kind of an event whose gateway does not say which product it is about.
ANY_OWNER = ""
# The kind of an event about a dispute: its object id is the gateway's dispute id.
DISPUTE = "dispute"


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
            enqueue_on_commit(WEBHOOK_EVENT_TASK, event.pk)
    if not created:
        logger.info("webhook %s:%s: duplicate, ignored", gateway, event_id)
    return event, created


def webhook_event_process(*, event_pk: int) -> WebhookEvent:
    """Reconciles the object an event is about, once. Safe to run twice: the
    reconcile services are idempotent, and a processed event is skipped.

    TransientGatewayError propagates for the task to retry.
    """
    event = WebhookEvent.objects.get(pk=event_pk)
    if event.processed_at is not None:
        return event
    if not event.object_id:
        result = "recorded: nothing to reconcile"
    elif event.kind == ANY_OWNER:
        result = _reconcile_any(event.object_id)
    elif event.kind == DISPUTE:
        result = _dispute(event.object_id)
    else:
        result = _reconcile(event.kind, event.object_id)
    logger.info("webhook %s: %s", event, result)
    WebhookEvent.objects.filter(pk=event.pk, processed_at__isnull=True).update(
        processed_at=timezone.now(), result=result[:200]
    )
    event.refresh_from_db()
    return event


def _reconcile(kind: str, object_id: str) -> str:
    owner = owner_of(kind)
    if owner is None:
        return f"ignored: no handler for kind {kind!r}"
    try:
        return owner.reconcile(object_id)
    except ObjectDoesNotExist:
        return f"ignored: no {kind} {object_id}"
    except DomainError as exc:
        return f"refused: {exc.detail}"


def _reconcile_any(object_id: str) -> str:
    """A gateway that keys its events by our idempotency key alone (Stripe): the
    product whose payment has that key reconciles it. Keys are the products'
    own UUIDs, so at most one holds it."""
    for owner in payment_owners():
        result = _reconcile(owner.kind, object_id)
        if not result.startswith(f"ignored: no {owner.kind} "):
            return result
    return f"ignored: no payment {object_id}"


def _dispute(dispute_id: str) -> str:
    """A dispute as the gateway holds it now, for the product whose charge it
    disputes (the event's body is not trusted: events arrive twice and out of
    order, and retrieving answers the latest state)."""
    dispute = get_gateway().lookup_dispute(dispute_id=dispute_id)
    if dispute is None or not dispute.key:
        return f"ignored: no charge of ours disputed by {dispute_id}"
    for owner in payment_owners():
        if owner.dispute is None:
            continue
        try:
            return owner.dispute(dispute)
        except ObjectDoesNotExist:
            continue
    return f"ignored: no payment {dispute.key} takes disputes"


def webhook_events_requeue_unprocessed() -> int:
    """Stored events whose processing task was lost (a later delivery of the
    same event is ignored as a duplicate, so nothing else would look at them)."""
    cutoff = timezone.now() - timedelta(seconds=settings.REQUEUE_AFTER_SECONDS)
    return sweep(
        WebhookEvent.objects.filter(processed_at__isnull=True, received_at__lte=cutoff),
        label="webhook events not processed",
        order_by="received_at",
        hold=timedelta(seconds=settings.REQUEUE_AFTER_SECONDS),
        handle=lambda pk: enqueue_on_commit(WEBHOOK_EVENT_TASK, pk),
    )


# --- Retention ----------------------------------------------------------------------

PURGE_BATCH_SIZE = 1000
PURGE_MAX_BATCHES = 50  # one run stays well inside a task's time limit


def webhook_events_purge() -> int:
    """Deletes processed events older than WEBHOOK_EVENT_RETENTION_DAYS in bounded
    batches; returns how many. Unprocessed ones stay for their sweep. A purged
    event's id is forgotten, which is safe: a signature older than the timestamp
    tolerance is refused anyway, and reconciling twice changes nothing."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_EVENT_RETENTION_DAYS)
    old = WebhookEvent.objects.filter(processed_at__isnull=False, received_at__lt=cutoff)
    purged = delete_in_batches(old, batch_size=PURGE_BATCH_SIZE, max_batches=PURGE_MAX_BATCHES)
    if purged:
        logger.info("purged %d processed webhook events", purged)
    return purged
