"""Celery's settings: the CELERY_ namespace of Django settings, which the Celery
app reads (workers/celery.py). project/settings.py puts them in with the Redis
address and timeouts it has already read.

The broker is CELERY_BROKER_URL, Redis (REDIS_URL) unless set: `redis://` or
`amqp://` (RabbitMQ), each with the transport options of its own kind
(docs/brokers.md). Results, doorbells, caps and throttles stay in Redis."""

from urllib.parse import urlsplit

import environ

REDIS_SCHEMES = ("redis", "rediss", "unix")
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


def broker_kind(url: str) -> str:
    """ "redis" or "amqp", from the broker URL's scheme."""
    scheme = urlsplit(url).scheme
    if scheme in REDIS_SCHEMES:
        return "redis"
    if scheme in AMQP_SCHEMES:
        return "amqp"
    raise ValueError(f"CELERY_BROKER_URL: no broker for {scheme!r} (redis:// or amqp://)")


def _transport_options(env, kind: str, *, connect_timeout: float, socket_timeout: float) -> dict:
    if kind == "amqp":
        # RabbitMQ acknowledges each publish (a message the broker did not take
        # raises in the publisher, whose row a sweep re-enqueues); its queues are
        # durable classic queues (kombu's default), which keep countdown/ETA
        # tasks as the pipeline uses them (quorum queues would need Celery's
        # native delayed delivery and drop global QoS).
        return {"confirm_publish": True}
    # Unacknowledged messages go back to the queue after this many seconds. It must
    # exceed the longest task plus its longest retry countdown.
    # The restore sweep (interval x throttle seconds) is how soon a consumer looks for them.
    return {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
        "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": socket_timeout,
    }


def celery_settings(
    env: environ.Env, *, redis_url: str, connect_timeout: float, socket_timeout: float
) -> dict[str, object]:
    broker_url = env.str("CELERY_BROKER_URL", default=redis_url)
    kind = broker_kind(broker_url)
    options = _transport_options(
        env, kind, connect_timeout=connect_timeout, socket_timeout=socket_timeout
    )
    return {
        # How long until the broker may deliver an unacknowledged message again:
        # Redis's visibility timeout; RabbitMQ redelivers when the consumer's
        # connection goes, or after its consumer_timeout (30 minutes by default).
        "BROKER_REDELIVERY_SECONDS": options.get("visibility_timeout", 1800),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "CELERY_RESULT_EXPIRES": 3600,
        "CELERY_TASK_SERIALIZER": "json",
        "CELERY_RESULT_SERIALIZER": "json",
        "CELERY_ACCEPT_CONTENT": ["json"],
        "CELERY_TIMEZONE": "UTC",
        "CELERY_ENABLE_UTC": True,
        # A task is acknowledged only after it ran, and a task whose worker died is put
        # back on the queue: a killed worker loses nothing (tasks are safe to run twice).
        "CELERY_TASK_ACKS_LATE": True,
        "CELERY_TASK_REJECT_ON_WORKER_LOST": True,
        "CELERY_WORKER_PREFETCH_MULTIPLIER": 1,
        "CELERY_TASK_SOFT_TIME_LIMIT": env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60),
        "CELERY_TASK_TIME_LIMIT": env.int("CELERY_TASK_TIME_LIMIT", default=90),
        # Off: the "task sent" event is one more Redis PUBLISH inside every purchase request,
        # and Flower still sees each task from the worker's received/started/succeeded events.
        "CELERY_TASK_SEND_SENT_EVENT": env.bool("CELERY_TASK_SEND_SENT_EVENT", default=False),
        "CELERY_WORKER_SEND_TASK_EVENTS": True,
        "CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP": True,
        "CELERY_BROKER_TRANSPORT_OPTIONS": options,
        "CELERY_BROKER_CONNECTION_TIMEOUT": connect_timeout,
        "CELERY_REDIS_SOCKET_CONNECT_TIMEOUT": connect_timeout,
        "CELERY_REDIS_SOCKET_TIMEOUT": socket_timeout,
        # A publish that cannot reach the broker gives up after about a second: the row
        # it was for is already committed, and a sweep re-enqueues it (project/queue.py).
        "CELERY_TASK_PUBLISH_RETRY_POLICY": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 0.5,
        },
        "CELERY_BEAT_SCHEDULER": "django_celery_beat.schedulers:DatabaseScheduler",
        # Celery's Django fixup closes the database connection around every task unless
        # this is set; reusing it saves a PostgreSQL connection set-up per task.
        "CELERY_DB_REUSE_MAX": env.int("CELERY_DB_REUSE_MAX", default=200),
    }
