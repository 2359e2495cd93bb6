"""Celery task for gateway webhooks: takes a stored event's id and calls one
service. Listed in the Celery app's `include` (workers/celery.py)."""

from gateways import webhooks
from project import tasks
from workers.celery import app
from workers.policy import PIPELINE_TASK, run_service


@app.task(name=tasks.WEBHOOK_EVENT_TASK, bind=True, max_retries=5, **PIPELINE_TASK)
def process_webhook_event(self, event_pk: int) -> str | None:
    # After the last retry the event stays unprocessed; the stuck-payment sweeps
    # ask the gateway again.
    return run_service(
        self,
        label="webhook event",
        object_id=event_pk,
        work=lambda: webhooks.webhook_event_process(event_pk=event_pk).result,
    )


@app.task(name=tasks.REQUEUE_UNPROCESSED_WEBHOOKS_TASK)
def requeue_unprocessed_webhooks() -> int:
    return webhooks.webhook_events_requeue_unprocessed()


@app.task(name=tasks.PURGE_WEBHOOK_EVENTS_TASK)
def purge_webhook_events() -> int:
    return webhooks.webhook_events_purge()
