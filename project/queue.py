"""How a service asks the workers for work: by task name, after commit.

The contract between a service and a worker is a task name and an id, so no
service imports `workers`. The message is published only once the transaction
that created the work has committed (a worker never looks for a row that does
not exist yet); outside a transaction it is published at once.
"""

from celery import current_app
from django.db import transaction


def publish(task_name: str, args: tuple) -> None:
    """Sends one task message. The web process's current Celery app is the
    project's own (configured by the workers app when Django starts)."""
    current_app.send_task(task_name, args=args)


def enqueue_on_commit(task_name: str, *args) -> None:
    """Publishes `task_name(*args)` once the current transaction commits."""
    # `publish` is looked up when the commit happens, so tests can watch it.
    transaction.on_commit(lambda: publish(task_name, args))
