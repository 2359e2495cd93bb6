"""Celery tasks for destination bookings: thin, safe to run twice. Each takes a
payment id, calls one service of payments/services.py and owns only its retry
policy. Registered by the import at the end of workers/tasks.py.

This module must not import workers.tasks: the web process imports it first
(to enqueue), and workers.tasks imports it back.
"""

import logging

from django.conf import settings

from payments import services
from payments.gateways import TransientGatewayError
from payments.models import Payment
from project.errors import DomainError
from workers.celery import app

__all__ = ["process_payment", "reconcile_payment", "sweep_stuck_payments"]

logger = logging.getLogger(__name__)

# A worker killed mid-task loses nothing: the message goes back to the queue,
# and the redelivered task finds the work done (or finishes it).
PAYMENT_TASK = {"acks_late": True, "reject_on_worker_lost": True}


def backoff_seconds(retries: int) -> float:
    """Exponential backoff: base, 2x base, 4x base, ..."""
    return settings.PAYMENT_RETRY_BACKOFF_SECONDS * (2**retries)


@app.task(name="payments.process_payment", bind=True, max_retries=None, **PAYMENT_TASK)
def process_payment(self, payment_id: str) -> str | None:
    try:
        return services.payment_process(payment_id=payment_id).status
    except Payment.DoesNotExist:
        logger.warning("payment %s: not found, task dropped", payment_id)
    except DomainError as exc:
        logger.warning("payment %s: %s", payment_id, exc.detail)
    except TransientGatewayError as exc:
        if self.request.retries >= settings.PAYMENT_MAX_RETRIES:
            logger.error(
                "payment %s: gateway still failing after %d retries",
                payment_id,
                self.request.retries,
            )
            return services.payment_give_up(payment_id=payment_id).status
        logger.warning("payment %s: transient gateway error, retrying: %s", payment_id, exc)
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    except Exception:
        logger.exception("payment %s: processing failed unexpectedly", payment_id)
        raise
    return None


@app.task(name="payments.reconcile_payment", bind=True, max_retries=5, **PAYMENT_TASK)
def reconcile_payment(self, payment_id: str) -> str | None:
    try:
        return services.payment_reconcile(payment_id=payment_id).payment.status
    except Payment.DoesNotExist:
        logger.warning("payment %s: not found, task dropped", payment_id)
    except DomainError as exc:
        logger.warning("payment %s: %s", payment_id, exc.detail)
    except TransientGatewayError as exc:
        # After the last retry the payment stays processing; the next sweep tries again.
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    except Exception:
        logger.exception("payment %s: reconciliation failed unexpectedly", payment_id)
        raise
    return None


@app.task(name="payments.sweep_stuck_payments")
def sweep_stuck_payments() -> int:
    return services.payments_sweep_stuck(older_than_minutes=settings.STUCK_PAYMENT_MINUTES)
