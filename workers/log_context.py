"""Worker, mailer and beat log through Django's LOGGING, and each task run
binds its ids (project/log_context.py).

Celery installs handlers of its own on the root logger unless a receiver of
`setup_logging` answers for it: `logging_setup` does, applying Django's
LOGGING (LOG_LEVEL, LOG_FORMAT), so a worker's lines look like the web's.
Celery's `--loglevel` is then not used: LOG_LEVEL is.

Around each task, `task_started` and `task_finished` (prerun and postrun
signals, in the thread that runs the task) bind the task's id and name, and
the purchase, ticket, payment or waiting-list entry its arguments name; a
batch binds each purchase it decides itself (tickets/sale/batch.py).
"""

import inspect
from contextvars import Token
from functools import cache

from project import log_context

# The arguments of a task that name what it works on, bound under their own names.
BOUND_ARGUMENTS = ("purchase_id", "ticket_id", "payment_id", "entry_id")


def logging_setup(**kwargs) -> None:
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


_tokens: dict[str, Token] = {}


def task_started(task_id=None, task=None, args=(), kwargs=None, **_) -> None:
    ids = _named_ids(task, args or (), kwargs or {})
    _tokens[task_id] = log_context.push(task_id=task_id, task_name=task.name, **ids)


def task_finished(task_id=None, **_) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        log_context.pop(token)


def _named_ids(task, args: tuple, kwargs: dict) -> dict:
    names = _parameters(task.name, task.run)
    ids = {name: value for name, value in zip(names, args, strict=False) if name in BOUND_ARGUMENTS}
    ids.update((name, kwargs[name]) for name in BOUND_ARGUMENTS if name in kwargs)
    return ids


@cache
def _parameters(task_name: str, run) -> tuple[str, ...]:
    """The task's positional parameter names (a bound task's `self` is not
    among them), read once per task."""
    try:
        parameters = inspect.signature(run).parameters
    except (TypeError, ValueError):
        return ()
    return tuple(parameters)
