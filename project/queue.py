"""How a service asks the workers for work: by task name, after commit.

The contract between a service and a worker is a task name and an id, so no
service imports `workers`. The message is published only once the transaction
that created the work has committed (a worker never looks for a row that does
not exist yet); outside a transaction it is published at once.

The database is the record of what must happen next; the message is only a
doorbell. A publish that fails (the broker is down, or times out) is logged and
dropped: the row is committed, and the sweep for its state re-enqueues it
after REQUEUE_AFTER_SECONDS. The request that stored it still succeeds.
"""

import logging
import time
from collections.abc import Callable

from celery import current_app
from django.db import transaction
from redis.client import Pipeline

from project.redis_client import redis_client

logger = logging.getLogger(__name__)


def publish(task_name: str, args: tuple, countdown: float | None = None) -> None:
    """Sends one task message (to run `countdown` seconds from now, if given).
    The web process's current Celery app is the project's own (configured by
    the workers app when Django starts)."""
    # No service ever reads a task's result: without ignore_result, send_task
    # subscribes to a result channel per message in the publishing process.
    current_app.send_task(task_name, args=args, ignore_result=True, countdown=countdown)


def enqueue_on_commit(task_name: str, *args) -> None:
    """Publishes `task_name(*args)` once the current transaction commits."""
    transaction.on_commit(lambda: _publish_or_log(task_name, args))


def _publish_or_log(task_name: str, args: tuple) -> None:
    try:
        publish(task_name, args)  # looked up when called, so tests can watch it
    except Exception:  # any broker failure: the sweeps are the safety net
        logger.exception("publish %s%s failed; its sweep will re-enqueue it", task_name, args)


# --- Doorbells ------------------------------------------------------------------------
#
# Work that a worker takes in batches (all pending purchases of a ticket) needs
# one message per batch, not one per row: a doorbell is published only when no
# doorbell with the same key is waiting. The worker answers it (deletes the key)
# before it looks for work, so a row committed after that look rings again, and
# a row committed before it is found. The key expires after `hold_seconds`, so a
# lost message stops ringing only that long; the sweeps catch the rest.

DOORBELL_PREFIX = "doorbell:"


def ring(
    task_name: str, *args, key: str, hold_seconds: float, countdown: float | None = None
) -> bool:
    """Publishes `task_name(*args)` unless a doorbell under `key` is waiting.
    True when it rang. Never raises: a failure is logged and the sweeps find
    the work; the key is dropped again, so the next commit tries to ring."""
    rang, _ = ring_along(task_name, *args, key=key, hold_seconds=hold_seconds, countdown=countdown)
    return rang


def ring_along(
    task_name: str,
    *args,
    key: str,
    hold_seconds: float,
    countdown: float | None = None,
    along: Callable[[Pipeline], None] | None = None,
) -> tuple[bool, list | None]:
    """`ring`, with the Redis commands `along` queues on the pipeline sent in
    the same round trip as the doorbell's. Returns whether it rang and the
    results of those commands (None when Redis could not be reached)."""
    client = redis_client()
    try:
        pipe = client.pipeline(transaction=False)
        if along is not None:
            along(pipe)
        pipe.set(DOORBELL_PREFIX + key, 1, nx=True, px=int(hold_seconds * 1000))
        *results, rang = pipe.execute()
    except Exception:
        logger.exception("publish %s%s failed; its sweep will re-enqueue it", task_name, args)
        return False, None
    if not rang:
        return False, results
    try:
        publish(task_name, args, countdown=countdown)
    except Exception:
        logger.exception("publish %s%s failed; its sweep will re-enqueue it", task_name, args)
        _forget(client, key)
        return False, results
    return True, results


def _forget(client, key: str) -> None:
    try:
        client.delete(DOORBELL_PREFIX + key)
    except Exception:  # Redis itself is away: the key expires on its own
        logger.warning("doorbell %s left to expire", key)


def ring_on_commit(task_name: str, *args, key: str, hold_seconds: float) -> None:
    transaction.on_commit(lambda: ring(task_name, *args, key=key, hold_seconds=hold_seconds))


def doorbell_answer(key: str, *, linger_ms: int = 0) -> None:
    """The worker is about to look for work: it first lingers `linger_ms` for
    more to gather, then the next commit may ring again. Answered after the
    linger, not before: work committed meanwhile finds the doorbell still rung
    and adds no task of its own (the look that follows finds it). Answered
    first, each such commit rang another task, which lingered beside this one:
    several small batches where one would do (docs/capacity.md)."""
    if linger_ms:
        time.sleep(linger_ms / 1000)
    redis_client().delete(DOORBELL_PREFIX + key)
