"""Celery tasks for ticket purchases: thin, safe to run twice. Each takes ids,
calls one service and owns only its retry policy. Services enqueue them by the
names they declare (project/tasks.py), after their transaction commits."""

import smtplib

from django.conf import settings

from project import tasks
from tickets import ledger
from tickets.delivery import services as delivery
from tickets.refunds import services as refunds
from tickets.sale import idempotency, payment, purchases, sweeps
from tickets.waiting_list import offers
from tickets.waiting_list import services as waiting_list
from workers.celery import app
from workers.policy import PIPELINE_TASK, run_service


@app.task(
    name=tasks.PROCESS_TASK,
    bind=True,
    max_retries=settings.PAYMENT_MAX_RETRIES,
    **PIPELINE_TASK,
)
def process_purchase(self, purchase_id: str) -> str | None:
    return run_service(
        self,
        label="purchase",
        object_id=purchase_id,
        work=lambda: payment.purchase_process(purchase_id=purchase_id).status,
        give_up=lambda: payment.purchase_give_up_payment(purchase_id=purchase_id).status,
    )


@app.task(name=tasks.BATCH_TASK, bind=True, **PIPELINE_TASK)
def process_ticket_batch(self, ticket_id: int) -> int | None:
    """A ticket's doorbell: decide its waiting purchases in batches. Safe to run
    twice and side by side (purchases are claimed with SKIP LOCKED). A message
    restored from a dead worker, or a retry after an outage, first finishes the
    charges an earlier run began and could not settle."""
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    resume = redelivered or self.request.retries > 0
    return run_service(
        self,
        label="ticket",
        object_id=ticket_id,
        work=lambda: payment.ticket_process_batches(ticket_id=ticket_id, resume=resume),
    )


@app.task(name=tasks.RECONCILE_TASK, bind=True, max_retries=5, **PIPELINE_TASK)
def reconcile_purchase_payment(self, purchase_id: str) -> str | None:
    # After the last retry the payment stays processing; the next sweep asks again.
    return run_service(
        self,
        label="purchase",
        object_id=purchase_id,
        work=lambda: payment.purchase_reconcile_payment(purchase_id=purchase_id).status,
    )


@app.task(name=tasks.DELIVER_TASK, bind=True, max_retries=5, **PIPELINE_TASK)
def deliver_purchase(self, purchase_id: str) -> str | None:
    """Bounded retries on mail errors, then a clean logged error: the purchase
    stays confirmed, and the admin's "resend tickets" or "re-run" sends it later."""
    return run_service(
        self,
        label="purchase",
        object_id=purchase_id,
        work=lambda: delivery.purchase_deliver(purchase_id=purchase_id).status,
        retry_on=(smtplib.SMTPException, OSError),
    )


@app.task(name=tasks.REFUND_TASK, bind=True, max_retries=5, **PIPELINE_TASK)
def finish_refund(self, purchase_id: str) -> str | None:
    # After the last retry the purchase stays refund_pending; the sweep asks again.
    return run_service(
        self,
        label="purchase",
        object_id=purchase_id,
        work=lambda: refunds.purchase_refund_finish(purchase_id=purchase_id).payment_status,
    )


@app.task(name=tasks.REFUND_MAIL_TASK, bind=True, max_retries=5, **PIPELINE_TASK)
def send_refund_notice(self, purchase_id: str) -> bool | None:
    return run_service(
        self,
        label="purchase",
        object_id=purchase_id,
        work=lambda: delivery.purchase_refund_notice(purchase_id=purchase_id),
        retry_on=(smtplib.SMTPException, OSError),
    )


# --- Sweeps (beat) ------------------------------------------------------------------


@app.task(name=tasks.EXPIRE_PURCHASES_TASK)
def expire_purchases() -> int:
    return purchases.purchases_expire_due()


@app.task(name=tasks.REQUEUE_UNSTARTED_PURCHASES_TASK)
def requeue_unstarted_purchases() -> int:
    return sweeps.purchases_requeue_waiting()


@app.task(name=tasks.REQUEUE_UNDELIVERED_PURCHASES_TASK)
def requeue_undelivered_purchases() -> int:
    return sweeps.purchases_requeue_undelivered()


@app.task(name=tasks.FINISH_REFUNDS_TASK)
def finish_refunds() -> int:
    return sweeps.purchases_finish_refunds()


@app.task(name=tasks.SWEEP_STUCK_PURCHASE_PAYMENTS_TASK)
def sweep_stuck_purchase_payments() -> int:
    return sweeps.purchases_sweep_stuck_payments(older_than_minutes=settings.STUCK_PAYMENT_MINUTES)


@app.task(name=tasks.OFFER_MAIL_TASK, bind=True, max_retries=5, **PIPELINE_TASK)
def send_waiting_list_offer(self, entry_id: str) -> bool | None:
    return run_service(
        self,
        label="waiting-list offer",
        object_id=entry_id,
        work=lambda: waiting_list.offer_mail(entry_id=entry_id),
        retry_on=(smtplib.SMTPException, OSError),
    )


@app.task(name=tasks.ENTRY_MAIL_TASK, bind=True, max_retries=5, **PIPELINE_TASK)
def send_waiting_list_entry(self, entry_id: str) -> bool | None:
    return run_service(
        self,
        label="waiting-list entry",
        object_id=entry_id,
        work=lambda: waiting_list.entry_mail(entry_id=entry_id),
        retry_on=(smtplib.SMTPException, OSError),
    )


@app.task(name=tasks.LAPSE_OFFERS_TASK)
def lapse_waiting_list_offers() -> int:
    return offers.offers_lapse_due()


@app.task(name=tasks.AUDIT_INVENTORY_TASK)
def audit_inventory() -> int:
    """The inventory equation of every ticket on sale, for the metrics page
    (`tickets_inventory_broken`); read-only, so running it twice is harmless."""
    return ledger.inventory_audit_record()


@app.task(name=tasks.PING_TASK)
def ping() -> str:
    """Answers "pong": proves a worker is consuming from the broker."""
    return "pong"


@app.task(name=tasks.PURGE_IDEMPOTENCY_KEYS_TASK)
def purge_idempotency_keys() -> int:
    return idempotency.idempotency_keys_purge()


@app.task(name=tasks.PURGE_UNCONFIRMED_ENTRIES_TASK)
def purge_unconfirmed_waiting_entries() -> int:
    return waiting_list.unconfirmed_entries_purge()
