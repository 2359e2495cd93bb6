"""GET /healthz: 200 when the database and the broker answer, 503 otherwise."""

import logging

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from kombu import Connection

from project.celery_settings import broker_kind

logger = logging.getLogger(__name__)


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.exception("health check: database unreachable")
        return False


def broker_ok() -> bool:
    """The broker answers: a PING for Redis, an AMQP connection for RabbitMQ."""
    url = settings.CELERY_BROKER_URL
    try:
        if broker_kind(url) == "redis":
            client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
            return bool(client.ping())
        with Connection(url, connect_timeout=1) as amqp:
            amqp.ensure_connection(max_retries=1, timeout=1)
        return True
    except Exception:  # whatever the broker's client raises: unavailable, never a 500
        logger.exception("health check: broker unreachable")
        return False


@require_GET
def healthz(request):
    checks = {
        "database": "ok" if database_ok() else "unavailable",
        "broker": "ok" if broker_ok() else "unavailable",
    }
    healthy = all(state == "ok" for state in checks.values())
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "checks": checks,
            # Which payment gateway takes the money (checked at start-up).
            "gateway": settings.PAYMENT_GATEWAY,
        },
        status=200 if healthy else 503,
    )
