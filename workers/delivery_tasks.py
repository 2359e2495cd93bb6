"""Celery task for the batched confirmation e-mails (the `delivery` queue, see
workers/queues.py). Listed in the Celery app's `include` (workers/celery.py)."""

import smtplib

from project import tasks
from tickets.delivery import mailer
from workers.celery import app
from workers.policy import PIPELINE_TASK, run_service


@app.task(name=tasks.DELIVER_BATCH_TASK, bind=True, max_retries=5, **PIPELINE_TASK)
def deliver_batch(self, doorbell: str = mailer.DOORBELL_KEY) -> int | None:
    """The delivery doorbell: mail every confirmed purchase, a batch at a time.
    A mail server that fails is retried with backoff; after the last retry the
    purchases stay confirmed and the undelivered sweep rings again. A message
    restored from a dead worker first releases what that worker had claimed."""
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    return run_service(
        self,
        label="delivery doorbell",
        object_id=doorbell,
        work=lambda: mailer.deliver_batch(
            doorbell=doorbell,
            run_id=self.request.id,
            resume=redelivered or self.request.retries > 0,
        ),
        retry_on=(smtplib.SMTPException, OSError),
    )
