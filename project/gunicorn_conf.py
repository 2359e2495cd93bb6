"""Gunicorn's hooks for the metrics in multiprocess mode (docs/metrics.md):
`gunicorn project.wsgi --config python:project.gunicorn_conf`.

With PROMETHEUS_MULTIPROC_DIR set, each gunicorn worker writes its figures to
files there and /metrics adds them up; the master empties the directory when
it starts, and a worker that exits has its live gauges dropped (its counters
stay counted, as Prometheus expects of a counter)."""

from prometheus_client import multiprocess

from project.metrics import clear_multiprocess_dir
from project.metrics.registry import multiprocess_dir


def on_starting(server) -> None:
    clear_multiprocess_dir()


def child_exit(server, worker) -> None:
    if multiprocess_dir():
        multiprocess.mark_process_dead(worker.pid)
