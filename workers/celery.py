"""The Celery app. `celery -A workers worker` finds it here.

It is configured from Django settings (the CELERY_ namespace). Its task modules
are listed in `include`: they import the services they call, and no service
imports them (a service enqueues by task name, project/queue.py).
"""

import os

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun

from workers import log_context
from workers.queues import TASK_ROUTES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

TASK_MODULES = [
    "workers.tasks",
    "workers.payment_tasks",
    "workers.webhook_tasks",
    "workers.delivery_tasks",
    "workers.cancellation_tasks",
]

app = Celery("workers", include=TASK_MODULES)
app.config_from_object("django.conf:settings", namespace="CELERY")
# Routes by task name (project/tasks.py), so they apply to what services publish
# by name too; the beat's sweeps also carry their queue in their schedule entry.
app.conf.task_routes = TASK_ROUTES

# Django's LOGGING, not Celery's own handlers; each task's ids bound for its
# lines (workers/log_context.py). Connected here, before a worker or the beat
# sets its logging up.
setup_logging.connect(log_context.logging_setup, dispatch_uid="workers.logging")
task_prerun.connect(log_context.task_started, dispatch_uid="workers.log_context.start")
task_postrun.connect(log_context.task_finished, dispatch_uid="workers.log_context.finish")
