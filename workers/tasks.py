"""Celery tasks: thin, safe to run twice. Each takes ids, calls one service and
owns only its retry policy. Enqueued after the creating transaction commits."""

import logging
import smtplib

from django.conf import settings

from payments.gateways import TransientGatewayError
from project.errors import DomainError
from tickets import selectors, services
from tickets.models import TicketPurchase
from workers.celery import app

logger = logging.getLogger(__name__)

PURCHASE_TASK = {"acks_late": True, "reject_on_worker_lost": True}


def backoff_seconds(retries: int) -> float:
    """Exponential backoff: base, 2x base, 4x base, ..."""
    return settings.PAYMENT_RETRY_BACKOFF_SECONDS * (2**retries)


@app.task(name="tickets.process_purchase", bind=True, max_retries=None, **PURCHASE_TASK)
def process_purchase(self, purchase_id: str) -> str | None:
    try:
        return services.purchase_process(purchase_id=purchase_id).status
    except TicketPurchase.DoesNotExist:
        logger.warning("purchase %s: not found, task dropped", purchase_id)
    except DomainError as exc:
        logger.warning("purchase %s: %s", purchase_id, exc.detail)
    except TransientGatewayError as exc:
        if self.request.retries >= settings.PAYMENT_MAX_RETRIES:
            logger.error(
                "purchase %s: gateway still failing after %d retries",
                purchase_id,
                self.request.retries,
            )
            return services.purchase_give_up_payment(purchase_id=purchase_id).status
        logger.warning("purchase %s: transient gateway error, retrying: %s", purchase_id, exc)
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    except Exception:
        logger.exception("purchase %s: processing failed unexpectedly", purchase_id)
        raise
    return None


@app.task(name="tickets.reconcile_purchase_payment", bind=True, max_retries=5, **PURCHASE_TASK)
def reconcile_purchase_payment(self, purchase_id: str) -> str | None:
    try:
        return services.purchase_reconcile_payment(purchase_id=purchase_id).status
    except TicketPurchase.DoesNotExist:
        logger.warning("purchase %s: not found, task dropped", purchase_id)
    except DomainError as exc:
        logger.warning("purchase %s: %s", purchase_id, exc.detail)
    except TransientGatewayError as exc:
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    except Exception:
        logger.exception("purchase %s: reconciliation failed unexpectedly", purchase_id)
        raise
    return None


@app.task(name="tickets.deliver_purchase", bind=True, max_retries=5, **PURCHASE_TASK)
def deliver_purchase(self, purchase_id: str) -> str | None:
    """Bounded retries on mail errors, then a clean logged error: the purchase
    stays confirmed, and the admin's "resend tickets" or "re-run" sends it later."""
    try:
        return services.purchase_deliver(purchase_id=purchase_id).status
    except TicketPurchase.DoesNotExist:
        logger.warning("purchase %s: not found, task dropped", purchase_id)
    except (smtplib.SMTPException, OSError) as exc:
        if self.request.retries >= self.max_retries:
            logger.error(
                "purchase %s: e-mail not delivered after %d retries, left confirmed: %s",
                purchase_id,
                self.request.retries,
                exc,
            )
            return None
        logger.warning("purchase %s: e-mail not sent, retrying: %s", purchase_id, exc)
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    return None


@app.task(name="tickets.expire_purchases")
def expire_purchases() -> int:
    expired = 0
    while count := services.purchases_expire_due():
        expired += count
    return expired


@app.task(name="tickets.requeue_unstarted_purchases")
def requeue_unstarted_purchases() -> int:
    ids = list(selectors.purchases_unstarted().values_list("id", flat=True)[:500])
    for purchase_id in ids:
        logger.warning("purchase %s: processing never started, re-enqueued", purchase_id)
        process_purchase.delay(str(purchase_id))
    return len(ids)


@app.task(name="tickets.sweep_stuck_purchase_payments")
def sweep_stuck_purchase_payments() -> int:
    stuck = selectors.purchases_stuck_in_payment(
        older_than_minutes=settings.STUCK_PAYMENT_MINUTES
    ).values_list("id", flat=True)[:500]
    ids = list(stuck)
    for purchase_id in ids:
        reconcile_purchase_payment.delay(str(purchase_id))
    return len(ids)


@app.task(name="workers.ping")
def ping() -> str:
    """Answers "pong": proves a worker is consuming from the broker."""
    return "pong"


from workers.payment_tasks import *  # noqa: E402,F403  (registers the booking tasks)
from workers.webhook_tasks import *  # noqa: E402,F403  (registers the webhook task)
