"""One Redis client per process and URL, with the project's timeouts.

redis-py's connection pool notices a fork and reconnects in the child, so a
client made before the web or worker processes fork is safe to share.
"""

import functools

import redis
from django.conf import settings


def redis_client(url: str | None = None) -> redis.Redis:
    return _client_for(url or settings.REDIS_URL)


@functools.lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
    )
