"""The API's per-client rate limit, counted in one Redis round trip.

DRF's ScopedRateThrottle reads the request history from the cache and writes
it back (two round trips, and two requests at once may both pass on the same
count). This keeps its meaning (a view's `throttle_scope` names its rate in
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]; the client is the user, else the
client address of project/clients.py; past the rate, 429 with Retry-After) but
counts in a fixed window of the rate's period: one pipelined INCR + EXPIRE on a
key per scope, client and window. A burst across a window's end may reach
twice the rate; that is the price of one atomic round trip.

A Redis that cannot be reached raises, and the API answers 503 like any outage
(project/api_errors.py), as the cache-backed throttle did.

A view whose request makes another Redis round trip before its work (the
purchase create: its caps) counts its window in that trip instead: it takes
the `RateWindow` of its request (`rate_window`) and hands it down, and the
throttle class leaves it alone (`throttle_classes = ()` on the view).

This module is named in REST_FRAMEWORK settings, which DRF imports while its
views module is loading: it must not import DRF views.
"""

from rest_framework.exceptions import Throttled
from rest_framework.throttling import ScopedRateThrottle

from project.clients import client_address
from project.redis_client import redis_client

KEY_PREFIX = "tickets:throttle"


class RateWindow:
    """One request's count in its client's current window: the counter's key,
    the limit and the window's length. `counted` once a round trip counted it."""

    __slots__ = ("counted", "key", "limit", "now", "seconds")

    def __init__(self, *, key: str, limit: int, seconds: int, now: float) -> None:
        self.key = f"{key}:{int(now // seconds)}"
        self.limit, self.seconds, self.now = limit, seconds, now
        self.counted = False

    def wait(self) -> float:
        """Seconds until the window ends and the count starts again."""
        return self.seconds - self.now % self.seconds

    def refuse(self) -> Throttled:
        return Throttled(wait=self.wait())

    def count(self) -> None:
        """Counts the request in a round trip of its own; raises Throttled past the limit."""
        pipe = redis_client().pipeline(transaction=False)
        pipe.incr(self.key)
        pipe.expire(self.key, self.seconds)
        count, _ = pipe.execute()
        self.counted = True
        if count > self.limit:
            raise self.refuse()


class ClientRateThrottle(ScopedRateThrottle):
    cache_format = KEY_PREFIX + ":%(scope)s:%(ident)s"

    def get_ident(self, request) -> str:
        return client_address(request)

    def window(self, request, scope: str) -> RateWindow | None:
        """The request's window under `scope`, or None when nothing limits it."""
        self.scope = scope
        self.rate = self.get_rate()
        if self.rate is None:
            return None
        self.num_requests, self.duration = self.parse_rate(self.rate)
        key = self.get_cache_key(request, None)
        if key is None:
            return None
        return RateWindow(key=key, limit=self.num_requests, seconds=self.duration, now=self.timer())

    def allow_request(self, request, view) -> bool:
        scope = getattr(view, self.scope_attr, None)
        if not scope:
            return True  # a view without a scope is not throttled
        self._window = self.window(request, scope)
        if self._window is None:
            return True
        try:
            self._window.count()
        except Throttled:
            return False
        return True

    def wait(self) -> float:
        return self._window.wait()


def rate_window(request, scope: str) -> RateWindow | None:
    """For a view that counts its own window in a round trip it makes anyway."""
    return ClientRateThrottle().window(request, scope)
