"""Request counts and latencies per endpoint, by the URL pattern's name.

Labels stay bounded: the view is the pattern's name (never the path, which
carries ids), `other` when no pattern matched.
"""

import time

from prometheus_client import Histogram

REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time from the request entering Django to its response, per endpoint.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Outermost, so the time includes every other middleware and the answers
    they give on their own (413, 503 on an outage)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        view = (match.url_name if match is not None else None) or "other"
        method = request.method if request.method in _METHODS else "other"
        REQUEST_SECONDS.labels(view, method, response.status_code).observe(
            time.perf_counter() - started
        )
        return response
