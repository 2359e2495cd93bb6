"""Prometheus metrics, product-neutral (docs/metrics.md lists every series).

Each product defines its own series beside its code and, for figures read
when scraped, registers a collector with `register_scrape_collector`. Web
pages are served by `project.metrics.view`; worker nodes open a port of their
own (`serve_worker_metrics`).
"""

from project.metrics.registry import (
    clear_multiprocess_dir,
    register_scrape_collector,
    render_latest,
    serve_worker_metrics,
)

__all__ = [
    "clear_multiprocess_dir",
    "register_scrape_collector",
    "render_latest",
    "serve_worker_metrics",
]
