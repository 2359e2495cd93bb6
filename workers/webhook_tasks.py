"""Celery task for gateway webhooks: takes a stored event's id and calls one
service. Registered by the import at the end of workers/tasks.py.

This module must not import workers.tasks: the web process imports it first
(to enqueue), and workers.tasks imports it back.
"""

from payments import webhooks
from workers.celery import app
from workers.policy import PIPELINE_TASK, run_service

__all__ = ["process_webhook_event"]


@app.task(name="payments.process_webhook_event", bind=True, max_retries=5, **PIPELINE_TASK)
def process_webhook_event(self, event_pk: int) -> str | None:
    # After the last retry the event stays unprocessed; the stuck-payment sweeps
    # ask the gateway again.
    return run_service(
        self,
        label="webhook event",
        object_id=event_pk,
        work=lambda: webhooks.webhook_event_process(event_pk=event_pk).result,
    )
