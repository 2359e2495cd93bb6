"""Confirmation e-mails in batches, on the `delivery` queue.

A confirmed purchase does not get a task of its own. Its commit rings the
delivery doorbell (project/queue.py: one waiting message at most), and the
mailer that answers it claims up to DELIVERY_BATCH_SIZE confirmed purchases,
builds their messages from two queries, sends them over one mail connection
and completes the sent ones with one UPDATE and one INSERT of audit rows; then
it claims the next batch, until one comes up short.

Claims follow the sweeps' rule (project/sweeps.py): FOR UPDATE SKIP LOCKED and
a `sweep_claimed_at` stamp, so two mailers never take the same purchase. A
mailer that dies mid-batch leaves its stamps; they lapse after CLAIM_HOLD and
the purchases are claimed again: a mail may go out twice, a confirmed purchase
is never left behind. A stamp older than the confirmation was left by a sweep
of the pending purchase and does not count. When the mail server fails, the
batch's unsent purchases are released at once for the task's retry; the
undelivered sweep (`delivery_ring_overdue`) rings for whatever still waits.
"""

import logging
import smtplib
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from project.log_context import bind_purchase
from project.queue import doorbell_answer, ring, ring_on_commit
from project.redis_client import redis_client
from project.tasks import DELIVER_BATCH_TASK
from tickets import selectors
from tickets.audit import purchase_log_many
from tickets.delivery.emails import confirmation_message
from tickets.models import TicketCode, TicketPurchase

logger = logging.getLogger(__name__)

Status = TicketPurchase.Status

DOORBELL_KEY = "delivery"


# How soon a mailer looks again for confirmed purchases it passed over because
# another transaction held them for a moment. The look again has a doorbell of
# its own: holding the mailer's would silence the rings of new confirmations.
LOOK_AGAIN_SECONDS = 1.0
LOOK_AGAIN_KEY = "delivery-look-again"


def delivery_ring() -> bool:
    """Rings the mailer now (the confirmations must be committed)."""
    return ring(
        DELIVER_BATCH_TASK,
        DOORBELL_KEY,
        key=DOORBELL_KEY,
        hold_seconds=settings.DELIVERY_DOORBELL_SECONDS,
    )


def delivery_ring_on_commit() -> None:
    """Rings the mailer once the confirming transaction commits."""
    ring_on_commit(
        DELIVER_BATCH_TASK,
        DOORBELL_KEY,
        key=DOORBELL_KEY,
        hold_seconds=settings.DELIVERY_DOORBELL_SECONDS,
    )


def delivery_ring_overdue() -> int:
    """The undelivered sweep: confirmed purchases that waited longer than
    REQUEUE_AFTER_SECONDS (a lost doorbell, a mail server that refused them, a
    mailer that died mid-batch) ring the mailer again. Nothing is stamped here:
    the mailer claims them itself. Returns how many were waiting."""
    overdue = selectors.purchases_undelivered(
        older_than_seconds=settings.REQUEUE_AFTER_SECONDS
    ).count()
    if overdue:
        logger.warning("%d confirmed purchase(s) still waiting for their e-mail", overdue)
        delivery_ring()
    return overdue


def _claim_hold() -> timedelta:
    # A worker is killed at the hard time limit, so no batch is still being
    # sent after this long: a stamp that old belongs to a dead mailer.
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)


def _keep_looping_seconds() -> float:
    # Well inside the soft time limit, which would otherwise interrupt a batch.
    return settings.CELERY_TASK_SOFT_TIME_LIMIT / 2


def deliver_batch(
    *,
    doorbell: str = DOORBELL_KEY,
    batch_size: int | None = None,
    run_id: str | None = None,
    resume: bool = False,
) -> int:
    """The mailer's answer to the doorbell: delivers confirmed purchases a
    batch at a time. Returns how many it completed. Raises the mail error (after
    releasing the unsent purchases) when the mail server cannot be reached.

    `run_id` names this run (the task id) so that, when the broker restores its
    message because the worker died (`resume`), the claims it had taken are
    released at once instead of after CLAIM_HOLD."""
    batch_size = batch_size or settings.DELIVERY_BATCH_SIZE
    if resume and run_id:
        _release_claims_of(run_id)
    # After DELIVERY_LINGER_MS: one task for the confirmations settled meanwhile,
    # not one per settled batch (each costs its fixed statements).
    doorbell_answer(doorbell, linger_ms=settings.DELIVERY_LINGER_MS)
    deadline = time.monotonic() + _keep_looping_seconds()
    delivered = 0
    while True:
        claimed_at, purchases = _claim(batch_size)
        if purchases:
            _remember_claim(run_id, claimed_at)
            delivered += _deliver(purchases, claimed_at=claimed_at)
        if len(purchases) < batch_size:
            _forget_claims(run_id)
            _look_again_if_passed_over()
            return delivered
        if time.monotonic() > deadline:
            delivery_ring()  # more is waiting: the next task carries on
            _forget_claims(run_id)
            return delivered


# --- A run's claims, kept in Redis until the run ends ----------------------------------


def _run_claims_key(run_id: str) -> str:
    return f"delivery:claims:{run_id}"


def _remember_claim(run_id: str | None, claimed_at) -> None:
    if not run_id:
        return
    key = _run_claims_key(run_id)
    # Until the broker could restore the message: after that nobody asks.
    keep = settings.BROKER_REDELIVERY_SECONDS * 2
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.rpush(key, claimed_at.isoformat())
        pipe.expire(key, keep)
        pipe.execute()
    except Exception:  # the claims then lapse after CLAIM_HOLD, as without this
        logger.warning("delivery run %s: claim at %s not remembered", run_id, claimed_at)


def _forget_claims(run_id: str | None) -> None:
    if run_id:
        redis_client().delete(_run_claims_key(run_id))


def _release_claims_of(run_id: str) -> None:
    """A restored run frees what its dead predecessor had claimed and not sent."""
    stamps = [
        datetime.fromisoformat(stamp.decode())
        for stamp in redis_client().lrange(_run_claims_key(run_id), 0, -1)
    ]
    if stamps:
        released = TicketPurchase.objects.filter(
            status=Status.CONFIRMED, sweep_claimed_at__in=stamps
        ).update(sweep_claimed_at=None)
        logger.warning("delivery run %s restored: %d claim(s) released", run_id, released)
    _forget_claims(run_id)


def _unclaimed(now) -> Q:
    return (
        Q(sweep_claimed_at__isnull=True)
        | Q(sweep_claimed_at__lte=now - _claim_hold())
        | Q(sweep_claimed_at__lt=F("confirmed_at"))
    )


def _look_again_if_passed_over() -> None:
    """SKIP LOCKED passes over a confirmed purchase that another transaction
    holds at that moment (a second settling of the same batch re-checking its
    rows, say), and the doorbell has been answered: without another look it
    would wait for the undelivered sweep. One unlocked EXISTS tells."""
    waiting = TicketPurchase.objects.filter(_unclaimed(timezone.now()), status=Status.CONFIRMED)
    if waiting.exists():
        ring(
            DELIVER_BATCH_TASK,
            LOOK_AGAIN_KEY,
            key=LOOK_AGAIN_KEY,
            hold_seconds=settings.DELIVERY_DOORBELL_SECONDS,
            countdown=LOOK_AGAIN_SECONDS,
        )


def _claim(batch_size: int) -> tuple[object, list[TicketPurchase]]:
    """Up to `batch_size` confirmed purchases no mailer holds, oldest first, with
    their tickets, stamped as this mailer's. Only purchase rows are locked (a
    ticket row locked by a reservation must not hide its purchases)."""
    now = timezone.now()
    with transaction.atomic():
        purchases = list(
            TicketPurchase.objects.filter(_unclaimed(now), status=Status.CONFIRMED)
            .select_related("ticket")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("updated_at")[:batch_size]
        )
        if purchases:
            TicketPurchase.objects.filter(pk__in=[p.pk for p in purchases]).update(
                sweep_claimed_at=now
            )
    return now, purchases


def _deliver(purchases: list[TicketPurchase], *, claimed_at) -> int:
    messages = _messages(purchases, _codes_of(purchases))
    sent: list[TicketPurchase] = []
    refused: list[TicketPurchase] = []
    try:
        with get_connection() as connection:  # one connection for the whole batch
            for purchase, message in messages:
                with bind_purchase(purchase):
                    if _send(connection, purchase, message):
                        sent.append(purchase)
                    else:
                        refused.append(purchase)
    except Exception:
        done = {p.pk for p in sent + refused}
        unsent = [purchase.pk for purchase, _ in messages if purchase.pk not in done]
        logger.warning(
            "mail failed after %d of %d confirmation(s); purchases %s left confirmed for a retry",
            len(sent),
            len(messages),
            ", ".join(str(pk) for pk in unsent),
        )
        _settle_after_failure(sent, unsent, claimed_at=claimed_at)
        raise
    return _complete(sent, claimed_at=claimed_at)


def _send(connection, purchase: TicketPurchase, message) -> bool:
    """Sends one confirmation: False when the server refused it for good, and
    only it (the others still go; its claim keeps it out of the way until it
    lapses, and the sweep rings again). Raises when the server fails as a whole."""
    try:
        connection.send_messages([message])
    except smtplib.SMTPException as exc:
        if not _refused_for_good(exc):
            raise
        logger.error("purchase %s: confirmation refused by the mail server: %s", purchase.pk, exc)
        return False
    logger.info("purchase %s: confirmation e-mail sent", purchase.pk)
    return True


def _codes_of(purchases: list[TicketPurchase]) -> dict:
    codes: dict = {purchase.pk: [] for purchase in purchases}
    rows = (
        TicketCode.objects.filter(purchase_id__in=list(codes))
        .order_by("id")
        .values_list("purchase_id", "code")
    )
    for purchase_id, code in rows:
        codes[purchase_id].append(code)
    return codes


def _messages(purchases: list[TicketPurchase], codes: dict) -> list[tuple]:
    """Each purchase's message; one that cannot be built is logged and skipped
    (its claim keeps it out of the way until it lapses), not the whole batch."""
    messages = []
    for purchase in purchases:
        try:
            messages.append((purchase, confirmation_message(purchase, codes[purchase.pk])))
        except Exception:
            with bind_purchase(purchase):
                logger.exception("purchase %s: confirmation not built; retried later", purchase.pk)
    return messages


def _refused_for_good(exc: smtplib.SMTPException) -> bool:
    """The server turned down this one message for good (its recipient, its
    content), as opposed to failing as a whole: a bad address must not hold up
    the batch behind it."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return True
    code = getattr(exc, "smtp_code", 0)
    return isinstance(exc, smtplib.SMTPDataError) and 500 <= code < 600


def _complete(purchases: list[TicketPurchase], *, claimed_at) -> int:
    """The sent purchases that are still confirmed become completed, with one
    audit row each: one locked read, one UPDATE, one INSERT. Every claim of the
    batch is dropped with it: a stamp left behind would keep the purchase out of
    the other sweeps (an unfinished refund, say) until it lapsed."""
    if not purchases:
        return 0
    now = timezone.now()
    with transaction.atomic():
        still_confirmed = set(
            TicketPurchase.objects.select_for_update()
            .filter(pk__in=[p.pk for p in purchases], status=Status.CONFIRMED)
            .values_list("pk", flat=True)
        )
        completing = [p for p in purchases if p.pk in still_confirmed]
        TicketPurchase.objects.filter(pk__in=still_confirmed, status=Status.CONFIRMED).update(
            status=Status.COMPLETED, completed_at=now, updated_at=now, sweep_claimed_at=None
        )
        moved_on = [p.pk for p in purchases if p.pk not in still_confirmed]
        if moved_on:  # completed or refunded meanwhile by someone else
            TicketPurchase.objects.filter(pk__in=moved_on, sweep_claimed_at=claimed_at).update(
                sweep_claimed_at=None
            )
        for purchase in completing:
            purchase.status, purchase.completed_at, purchase.updated_at = (
                Status.COMPLETED,
                now,
                now,
            )
        purchase_log_many(completing, "delivered", from_status=Status.CONFIRMED, note="e-mail sent")
    return len(completing)


def _release(purchase_ids: list, *, claimed_at) -> None:
    """Unsent purchases may be claimed again at once (only if the claim is still
    this mailer's)."""
    if purchase_ids:
        TicketPurchase.objects.filter(
            pk__in=purchase_ids, status=Status.CONFIRMED, sweep_claimed_at=claimed_at
        ).update(sweep_claimed_at=None)


def _settle_after_failure(sent: list[TicketPurchase], unsent: list, *, claimed_at) -> None:
    """What went out is completed, the rest released; if the database is away
    too, the claims lapse on their own and the mail error is what is raised."""
    try:
        _complete(sent, claimed_at=claimed_at)
        _release(unsent, claimed_at=claimed_at)
    except Exception:
        logger.exception("could not settle the batch; its claims lapse after %s", _claim_hold())
