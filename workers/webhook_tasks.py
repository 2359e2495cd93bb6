"""Celery task for gateway webhooks: takes a stored event's id and calls one
service. Registered by the import at the end of workers/tasks.py.

This module must not import workers.tasks: the web process imports it first
(to enqueue), and workers.tasks imports it back.
"""

import logging

from django.conf import settings

from payments import webhooks
from payments.gateways import TransientGatewayError
from payments.models import WebhookEvent
from workers.celery import app

__all__ = ["process_webhook_event"]

logger = logging.getLogger(__name__)


def backoff_seconds(retries: int) -> float:
    return settings.PAYMENT_RETRY_BACKOFF_SECONDS * (2**retries)


@app.task(
    name="payments.process_webhook_event",
    bind=True,
    max_retries=5,
    acks_late=True,
    reject_on_worker_lost=True,
)
def process_webhook_event(self, event_pk: int) -> str | None:
    try:
        return webhooks.webhook_event_process(event_pk=event_pk).result
    except WebhookEvent.DoesNotExist:
        logger.warning("webhook event %s: not found, task dropped", event_pk)
    except TransientGatewayError as exc:
        if self.request.retries >= self.max_retries:
            # Left unprocessed; the stuck-payment sweeps ask the gateway again.
            logger.error(
                "webhook event %s: gateway still failing after %d retries: %s",
                event_pk,
                self.request.retries,
                exc,
            )
            return None
        logger.warning("webhook event %s: transient gateway error, retrying: %s", event_pk, exc)
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    return None
