"""Celery tasks for destination bookings: thin, safe to run twice. Each takes a
payment id, calls one service of payments/services.py and owns only its retry
policy. Listed in the Celery app's `include` (workers/celery.py)."""

from django.conf import settings

from payments import refunds, services
from project import tasks
from workers.celery import app
from workers.policy import PIPELINE_TASK, run_service


@app.task(
    name=tasks.BOOKING_PROCESS_TASK,
    bind=True,
    max_retries=settings.PAYMENT_MAX_RETRIES,
    **PIPELINE_TASK,
)
def process_payment(self, payment_id: str) -> str | None:
    return run_service(
        self,
        label="payment",
        object_id=payment_id,
        work=lambda: services.payment_process(payment_id=payment_id).status,
        give_up=lambda: services.payment_give_up(payment_id=payment_id).status,
    )


@app.task(name=tasks.BOOKING_RECONCILE_TASK, bind=True, max_retries=5, **PIPELINE_TASK)
def reconcile_payment(self, payment_id: str) -> str | None:
    # After the last retry the payment stays processing; the next sweep asks again.
    return run_service(
        self,
        label="payment",
        object_id=payment_id,
        work=lambda: services.payment_reconcile(payment_id=payment_id).payment.status,
    )


@app.task(name=tasks.SWEEP_STUCK_BOOKING_PAYMENTS_TASK)
def sweep_stuck_payments() -> int:
    return services.payments_sweep_stuck(older_than_minutes=settings.STUCK_PAYMENT_MINUTES)


@app.task(name=tasks.REQUEUE_WAITING_BOOKINGS_TASK)
def requeue_waiting_payments() -> int:
    return services.payments_requeue_waiting()


@app.task(name=tasks.BOOKING_REFUND_TASK, bind=True, max_retries=5, **PIPELINE_TASK)
def finish_refund(self, payment_id: str) -> str | None:
    # After the last retry the payment stays refund_pending; the sweep asks again.
    return run_service(
        self,
        label="payment",
        object_id=payment_id,
        work=lambda: refunds.payment_refund_finish(payment_id=payment_id).status,
    )


@app.task(name=tasks.FINISH_BOOKING_REFUNDS_TASK)
def finish_refunds() -> int:
    return refunds.payments_finish_refunds()
