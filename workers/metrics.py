"""The workers' own figures (docs/metrics.md): task runs by name and state,
their run times, and runs put back by an outage. Served by each worker node
on WORKER_METRICS_PORT (bound to METRICS_BIND), opened in `worker_init`.

Counted from Celery's signals in the process that ran the task, so no task
events are needed (Flower's page, which needs them, adds worker heartbeats).
"""

import time

from django.conf import settings
from prometheus_client import Counter, Histogram

from project.metrics import serve_worker_metrics

TASKS = Counter("celery_tasks", "Task runs, by task and how they ended.", ["task", "state"])
TASK_SECONDS = Histogram(
    "celery_task_duration_seconds",
    "Task run time, by task.",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
OUTAGE_RETRIES = Counter(
    "tickets_outage_retries",
    "Task runs put back because the database or the broker was away.",
    ["task"],
)

_started: dict[str, float] = {}


def task_started(task_id=None, **kwargs) -> None:
    _started[task_id] = time.perf_counter()


def task_finished(task_id=None, task=None, state=None, **kwargs) -> None:
    started = _started.pop(task_id, None)
    name = getattr(task, "name", "unknown")
    if started is not None:
        TASK_SECONDS.labels(name).observe(time.perf_counter() - started)
    TASKS.labels(name, _state(state)).inc()


def _state(state: str | None) -> str:
    return {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}.get(
        state or "", "other"
    )


def worker_node_started(**kwargs) -> None:
    """worker_init: the node's page, when WORKER_METRICS_PORT is set."""
    port = settings.WORKER_METRICS_PORT
    if port:
        serve_worker_metrics(port, settings.METRICS_BIND)
