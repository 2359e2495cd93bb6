"""The one retry-and-logging policy every pipeline task shares.

A task looks its object up by id and calls one service through `run_service`:
a row that vanished or a domain error is logged and dropped (retrying cannot
help); a database or broker outage is waited out with short retries, then left
to the sweeps; a transient gateway error is retried with exponential backoff up
to the task's `max_retries`, then `give_up` settles the object (or it is left
for the sweeps). The two kinds of retry are counted apart, so an outage waited
out never eats the gateway's backoff; anything else is logged with the object's id and raised, the
transaction having rolled back.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import connections

from gateways import TransientGatewayError
from project.actor import reset_actor, set_actor
from project.errors import DomainError
from project.outages import INFRASTRUCTURE_ERRORS
from workers.metrics import OUTAGE_RETRIES as OUTAGE_RETRIES_COUNTED

logger = logging.getLogger("workers.tasks")

# Outage retries travel in a header of the retried message, so they are counted
# apart from gateway retries (Celery's own `retries` counts both).
OUTAGE_RETRIES = "outage_retries"

# Acknowledged after the work, and put back on the queue if the worker dies: a
# killed worker loses nothing, and the redelivered task finds the work done.
# Their results live in the database, so none is stored in the result backend.
PIPELINE_TASK = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


# The database or the broker is away: the task waits it out, retrying every few
# seconds for a few minutes, then leaves the object to its sweep. Its work is
# safe to run again (a charge is keyed, a transition returns early when done).
OUTAGE_MAX_RETRIES = 40
OUTAGE_MAX_COUNTDOWN_SECONDS = 5.0


def backoff_seconds(retries: int) -> float:
    """Exponential backoff: base, 2x base, 4x base, ..."""
    return settings.PAYMENT_RETRY_BACKOFF_SECONDS * (2**retries)


def run_service(
    task,
    *,
    label: str,
    object_id,
    work: Callable[[], str | None],
    give_up: Callable[[], str | None] | None = None,
    retry_on: tuple[type[Exception], ...] = (TransientGatewayError,),
) -> str | None:
    try:
        return work()
    except ObjectDoesNotExist:
        logger.warning("%s %s: not found, task dropped", label, object_id)
    except DomainError as exc:
        logger.warning("%s %s: %s", label, object_id, exc.detail)
    except INFRASTRUCTURE_ERRORS as exc:
        _drop_broken_connections()
        outages = _outage_retries(task)
        if outages >= OUTAGE_MAX_RETRIES:
            logger.error(
                "%s %s: %s: outage outlasted its retries, left to the sweeps: %s",
                label,
                object_id,
                task.name,
                exc,
            )
            return None
        logger.warning(
            "%s %s: database or broker unavailable (%s); retrying", label, object_id, exc
        )
        countdown = min(backoff_seconds(outages), OUTAGE_MAX_COUNTDOWN_SECONDS)
        OUTAGE_RETRIES_COUNTED.labels(task.name).inc()
        raise _retry(task, exc, countdown=countdown, outages=outages + 1) from exc
    except retry_on as exc:
        outages = _outage_retries(task)
        retries = task.request.retries - outages  # this kind of error's own count
        if retries >= task.max_retries:
            logger.error(
                "%s %s: %s gave up after %d retries: %s", label, object_id, task.name, retries, exc
            )
            return give_up() if give_up else None
        logger.warning("%s %s: %s; retrying", label, object_id, exc)
        raise _retry(task, exc, countdown=backoff_seconds(retries), outages=outages) from exc
    except Exception:
        logger.exception("%s %s: %s failed unexpectedly", label, object_id, task.name)
        _drop_broken_connections()
        raise
    return None


def _outage_retries(task) -> int:
    # A worker puts a message's custom headers on the request; an eager run
    # keeps them in `request.headers`.
    count = task.request.get(OUTAGE_RETRIES)
    if count is None:
        count = (task.request.headers or {}).get(OUTAGE_RETRIES, 0)
    return int(count)


def _retry(task, exc: Exception, *, countdown: float, outages: int):
    """Retries with the outage count carried along. Each count is bounded by
    `run_service`, so Celery's own bound (on both together) is lifted."""
    headers = {**(task.request.headers or {}), OUTAGE_RETRIES: outages}
    return task.retry(
        exc=exc, countdown=countdown, headers=headers, max_retries=task.request.retries + 1
    )


def _drop_broken_connections() -> None:
    """Workers keep their connection between tasks (CELERY_DB_REUSE_MAX): one this
    error broke is closed, so the next task starts on a fresh one."""
    for connection in connections.all(initialized_only=True):
        broken = connection.errors_occurred and not connection.is_usable()
        if broken and not connection.in_atomic_block:
            connection.close()


# Every task is the actor of what it changes (the audit trail names it).
_actor_tokens: dict[str, object] = {}


def task_started(task_id=None, task=None, **kwargs) -> None:
    _actor_tokens[task_id] = set_actor(f"task {task.name}")


def task_finished(task_id=None, **kwargs) -> None:
    token = _actor_tokens.pop(task_id, None)
    if token is not None:
        reset_actor(token)
