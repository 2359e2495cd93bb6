"""Which registry a page renders, in one process or many.

prometheus-client keeps a process's figures in memory, unless
PROMETHEUS_MULTIPROC_DIR is set when it is imported: then every process of a
group (gunicorn's workers, a prefork pool's children) writes them to files
there, and the group's page adds the files up. Each group owns its directory
and empties it when it starts: figures of processes from an earlier start
would be counted again.

Figures read from the database or the broker when scraped (collectors) are
added to the web page only: the workers' pages carry what happened in them.
"""

import logging
import os
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_scrape_collectors: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    """Adds figures read at scrape time (a product's gauges) to the web page."""
    if collector not in _scrape_collectors:
        _scrape_collectors.append(collector)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def clear_multiprocess_dir() -> None:
    """Empties the group's directory at start (gunicorn's on_starting, a
    worker node's worker_init) of every file but this process's own: this
    process may have written already (a series without labels has its file
    from the moment it is defined)."""
    directory = multiprocess_dir()
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    own = f"_{os.getpid()}.db"
    for stale in path.glob("*.db"):
        if not stale.name.endswith(own):
            stale.unlink(missing_ok=True)


def _process_registry() -> CollectorRegistry:
    """This process's figures, or those of its whole group in multiprocess mode."""
    if not multiprocess_dir():
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


class _Page:
    """The collectors of one scrape: the process's (or group's) figures and,
    on the web page, the figures read when scraped."""

    def __init__(self, *, with_scrape_collectors: bool) -> None:
        self.registry = _process_registry()
        self.extra = _scrape_collectors if with_scrape_collectors else []

    def collect(self):
        yield from self.registry.collect()
        for collector in self.extra:
            try:
                yield from collector.collect()
            except Exception:  # one unreadable source must not blank the page
                logger.exception("metrics: collector %s failed", type(collector).__name__)


def render_latest(*, with_scrape_collectors: bool = True) -> tuple[bytes, str]:
    """The page's body and content type."""
    page = _Page(with_scrape_collectors=with_scrape_collectors)
    return generate_latest(page), CONTENT_TYPE_LATEST


def serve_worker_metrics(port: int, bind: str) -> None:
    """A worker node's own page, on a thread of its main process. In
    multiprocess mode it adds up the pool's children."""
    clear_multiprocess_dir()
    registry = _process_registry()
    try:
        start_http_server(port, addr=bind, registry=registry)
    except OSError as exc:  # the port is taken: the node works on, unwatched
        logger.error("metrics: cannot listen on %s:%d (%s); no metrics page", bind, port, exc)
        return
    logger.info("metrics on http://%s:%d/metrics", bind, port)
