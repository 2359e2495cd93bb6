"""The beat's sweeps over purchases: the database says what must happen
next, the broker is only a doorbell, so a lost message costs latency, never
work. Each sweep finds the purchases that waited too long and rings again.
"""

import logging
from datetime import timedelta
from uuid import UUID

from django.conf import settings

from project.queue import enqueue_on_commit
from project.sweeps import sweep
from project.tasks import (
    PROCESS_TASK,
    RECONCILE_TASK,
    REFUND_TASK,
)
from tickets import selectors
from tickets.delivery.mailer import delivery_ring_overdue
from tickets.models import TicketPurchase

logger = logging.getLogger(__name__)

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


def _requeue_sweep(queryset, *, label: str, order_by: str, task_name: str) -> int:
    """Re-enqueues each row that waited past REQUEUE_AFTER_SECONDS for `task_name`."""
    waited = timedelta(seconds=settings.REQUEUE_AFTER_SECONDS)

    def requeue(purchase_id: UUID) -> None:
        logger.warning("purchase %s: %s, re-enqueued", purchase_id, label)
        enqueue_on_commit(task_name, str(purchase_id))

    return sweep(queryset, label=label, order_by=order_by, hold=waited, handle=requeue)


def purchases_requeue_waiting() -> int:
    """Pending purchases whose processing never started, or whose submitted
    payment was never charged: their task was lost; it is sent again."""
    return _requeue_sweep(
        selectors.purchases_awaiting_processing(older_than_seconds=settings.REQUEUE_AFTER_SECONDS),
        label="waiting for processing",
        order_by="updated_at",
        task_name=PROCESS_TASK,
    )


def purchases_requeue_undelivered() -> int:
    """Confirmed purchases whose tickets were never sent ring the mailer again
    (it claims them itself: tickets/delivery.py)."""
    return delivery_ring_overdue()


def purchases_finish_refunds() -> int:
    """Refunds a crash left halfway are finished."""
    return _requeue_sweep(
        selectors.purchases_refund_unfinished(older_than_seconds=settings.REQUEUE_AFTER_SECONDS),
        label="refund unfinished",
        order_by="updated_at",
        task_name=REFUND_TASK,
    )


def purchases_sweep_stuck_payments(*, older_than_minutes: int, batch_size: int = 200) -> int:
    """Hands payments stuck in processing to reconcile tasks, which ask the
    gateway for the real outcome."""
    return sweep(
        selectors.purchases_stuck_in_payment(older_than_minutes=older_than_minutes),
        label="stuck ticket payments",
        order_by="payment_started_at",
        hold=timedelta(minutes=older_than_minutes),
        handle=lambda pk: enqueue_on_commit(RECONCILE_TASK, str(pk)),
        batch_size=batch_size,
    )
