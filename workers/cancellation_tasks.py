"""Celery tasks of an event's cancellation (tickets/cancellation/services.py):
thin, safe to run twice. Each refund runs on the `cancellations` queue, so a
whole event's refunds never hold up another event's sale."""

import smtplib

from django.conf import settings

from project import tasks
from tickets.cancellation import services as cancellation
from workers.celery import app
from workers.policy import PIPELINE_TASK, run_service


@app.task(
    name=tasks.CANCELLATION_REFUND_TASK,
    bind=True,
    max_retries=settings.PAYMENT_MAX_RETRIES,
    **PIPELINE_TASK,
)
def refund_for_cancelled_event(self, purchase_id: str) -> str | None:
    # After the last retry the purchase stays to refund; the resume sweep sends it again.
    return run_service(
        self,
        label="purchase",
        object_id=purchase_id,
        work=lambda: cancellation.cancellation_refund(purchase_id=purchase_id).payment_status,
    )


@app.task(name=tasks.CANCELLED_ENTRY_MAIL_TASK, bind=True, max_retries=5, **PIPELINE_TASK)
def send_waiting_list_cancelled(self, entry_id: str) -> bool | None:
    return run_service(
        self,
        label="waiting-list entry",
        object_id=entry_id,
        work=lambda: cancellation.entry_cancelled_mail(entry_id=entry_id),
        retry_on=(smtplib.SMTPException, OSError),
    )


@app.task(name=tasks.RESUME_CANCELLATIONS_TASK)
def resume_event_cancellations() -> int:
    return cancellation.cancellations_resume()
