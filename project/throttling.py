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

This module is named in REST_FRAMEWORK settings, which DRF imports while its
views module is loading: it must not import DRF views.
"""

from rest_framework.throttling import ScopedRateThrottle

from project.clients import client_address
from project.redis_client import redis_client

KEY_PREFIX = "tickets:throttle"


class ClientRateThrottle(ScopedRateThrottle):
    cache_format = KEY_PREFIX + ":%(scope)s:%(ident)s"

    def get_ident(self, request) -> str:
        return client_address(request)

    def allow_request(self, request, view) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True  # a view without a scope is not throttled
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        pipe = redis_client().pipeline(transaction=False)
        pipe.incr(f"{key}:{window}")
        pipe.expire(f"{key}:{window}", self.duration)
        count, _ = pipe.execute()
        return count <= self.num_requests

    def wait(self) -> float:
        """Seconds until the window ends and the count starts again."""
        return self.duration - self.now % self.duration
