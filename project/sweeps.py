"""The one claim rule every sweep follows.

A sweep finds rows that have waited too long in some state and hands each to
the work that moves it on. Rows are claimed in bounded batches: SKIP LOCKED
keeps two sweeps running at once off each other's rows, and a claim stamp
(`sweep_claimed_at`) keeps a row claimed for `hold` after their transaction
commits, so the next sweep does not take it again while its work is under way.
Each row is handled on its own: one that raises is logged with its id and
skipped (its stamp keeps it out of the way until `hold` has passed).
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from project.metrics.counters import SWEEP_REFOUND

logger = logging.getLogger(__name__)


def claim_batch(queryset: QuerySet, *, order_by: str, hold: timedelta, batch_size: int) -> list:
    """Claims up to `batch_size` primary keys of `queryset` no sweep claimed
    within `hold`, oldest first, and stamps them."""
    now = timezone.now()
    with transaction.atomic():
        claimed = list(
            queryset.exclude(sweep_claimed_at__gt=now - hold)
            .select_for_update(skip_locked=True)
            .order_by(order_by)
            .values_list("pk", flat=True)[:batch_size]
        )
        queryset.model.objects.filter(pk__in=claimed).update(sweep_claimed_at=now)
    return claimed


def sweep(
    queryset: QuerySet,
    *,
    label: str,
    order_by: str,
    hold: timedelta,
    handle: Callable[[object], object],
    batch_size: int = 200,
    max_batches: int = 50,
) -> int:
    """Claims batch after batch and calls `handle(pk)` for each row; returns
    how many rows were handled without error."""
    handled = 0
    for _ in range(max_batches):
        batch = claim_batch(queryset, order_by=order_by, hold=hold, batch_size=batch_size)
        for pk in batch:
            try:
                handle(pk)
                handled += 1
            except Exception:
                logger.exception("sweep %s: %s failed; skipped until its claim lapses", label, pk)
        if len(batch) < batch_size:
            break
    if handled:
        SWEEP_REFOUND.labels(label).inc(handled)
        logger.info("sweep %s: %d handled", label, handled)
    return handled


def delete_in_batches(queryset: QuerySet, *, batch_size: int = 1000, max_batches: int = 50) -> int:
    """Deletes what `queryset` matches, a bounded batch at a time (short
    statements, no long lock); what is left waits for the next run. The delete
    checks the queryset's conditions again: a row that changed since the batch
    was read (an entry confirmed meanwhile) is not deleted."""
    deleted = 0
    for _ in range(max_batches):
        batch = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        deleted += queryset.filter(pk__in=batch).delete()[0]
    return deleted
