"""GET /metrics: the web processes' figures and those read when scraped.

Never public by default: with METRICS_TOKEN set it answers only requests
carrying `Authorization: Bearer <token>`; without it the page is off (404),
except in DEBUG to a client on this machine, so `make run` can show it.
"""

import hmac
import ipaddress

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from project.metrics.broker import QueueLengthCollector
from project.metrics.registry import register_scrape_collector, render_latest

register_scrape_collector(QueueLengthCollector())


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())
    return settings.DEBUG and _from_loopback(request)


def _from_loopback(request) -> bool:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@require_GET
def metrics(request):
    if not _allowed(request):
        if settings.METRICS_TOKEN:
            response = HttpResponse(status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        raise Http404()
    body, content_type = render_latest()
    return HttpResponse(body, content_type=content_type)
