"""project.settings with some of commit 0c6aaaa's broker settings taken back out, for
`python -m bench.publish_latency` only (bench imports the project, never the reverse).

BENCH_LATENCY_DROP, a comma-separated list of:

- `transport_timeouts`: no socket_timeout / socket_connect_timeout in
  CELERY_BROKER_TRANSPORT_OPTIONS (kombu's defaults);
- `broker_connection_timeout`: CELERY_BROKER_CONNECTION_TIMEOUT back to Celery's 4 s;
- `redis_socket_timeouts`: no CELERY_REDIS_SOCKET_TIMEOUT / _CONNECT_TIMEOUT (result backend);
- `publish_retry_policy`: Celery's default publish retry policy.

The worker's queues are the Procfile's WORKER_QUEUES variable, not a setting.
"""

import os

from project.settings import *  # noqa: F403
from project.settings import CELERY_BROKER_TRANSPORT_OPTIONS

DROP = {part.strip() for part in os.environ.get("BENCH_LATENCY_DROP", "").split(",") if part}
KNOWN = {
    "transport_timeouts",
    "broker_connection_timeout",
    "redis_socket_timeouts",
    "publish_retry_policy",
}
if DROP - KNOWN:
    raise ValueError(f"BENCH_LATENCY_DROP: unknown {sorted(DROP - KNOWN)}; known {sorted(KNOWN)}")

if "transport_timeouts" in DROP:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        k: v
        for k, v in CELERY_BROKER_TRANSPORT_OPTIONS.items()
        if k not in ("socket_timeout", "socket_connect_timeout")
    }
if "broker_connection_timeout" in DROP:
    CELERY_BROKER_CONNECTION_TIMEOUT = 4.0
if "redis_socket_timeouts" in DROP:
    CELERY_REDIS_SOCKET_TIMEOUT = None
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = None
if "publish_retry_policy" in DROP:
    CELERY_TASK_PUBLISH_RETRY_POLICY = {
        "max_retries": 3,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.2,
    }
