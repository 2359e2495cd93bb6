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

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def publish(task_name: str, args: tuple) -> None:
    """Sends one task message. The web process's current Celery app is the
    project's own (configured by the workers app when Django starts)."""
    # No service ever reads a task's result: without ignore_result, send_task
    # subscribes to a result channel per message in the publishing process.
    current_app.send_task(task_name, args=args, ignore_result=True)


def enqueue_on_commit(task_name: str, *args) -> None:
    """Publishes `task_name(*args)` once the current transaction commits."""
    transaction.on_commit(lambda: _publish_or_log(task_name, args))


def _publish_or_log(task_name: str, args: tuple) -> None:
    try:
        publish(task_name, args)  # looked up when called, so tests can watch it
    except Exception:  # any broker failure: the sweeps are the safety net
        logger.exception("publish %s%s failed; its sweep will re-enqueue it", task_name, args)
