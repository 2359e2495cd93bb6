"""API tokens: DRF's own `Token`, with an age limit and a guarded login.

A token is refused (401) once it is older than AUTH_TOKEN_TTL_HOURS; logging in
again replaces an expired token with a new one (a token still in date is
returned as it is, as DRF does). No crypto of our own: the key is DRF's.

Guessing passwords is throttled on failed attempts, counted per client address
(`auth_address`) and per username (`auth_username`). Once either count reaches
its rate within the rate's period, every attempt for that address or username,
right password or not, is 429 until the period ends. A successful login clears
its username's count, never its address's. The windows are fixed (a burst across
a window's end may reach twice the rate), counted in the shared cache (Redis).

This module is named in REST_FRAMEWORK settings, which DRF imports while its
views module is loading: it must not import DRF views (the login view is in
project/api_auth.py).
"""

import hashlib
from collections.abc import Mapping
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.throttling import SimpleRateThrottle

from project.clients import client_address


def token_expired(token: Token) -> bool:
    return token.created <= timezone.now() - timedelta(hours=settings.AUTH_TOKEN_TTL_HOURS)


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            raise AuthenticationFailed("Token expired; log in again.", code="token_expired")
        return user, token


class FailedLoginThrottle(SimpleRateThrottle):
    """Counts failed logins only: `allow_request` reads the count and the view
    calls `record_failure`. The count is one atomic cache increment per failure
    in a fixed window of the rate's period, so parallel guesses are all counted."""

    def get_ident_key(self, request) -> str | None:
        raise NotImplementedError

    def get_cache_key(self, request, view) -> str | None:
        ident = self.get_ident_key(request)
        if ident is None:
            return None
        digest = hashlib.sha256(ident.encode()).hexdigest()
        window = int(self.timer() // self.duration)
        return self.cache_format % {"scope": self.scope, "ident": f"{digest}:{window}"}

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        return self.cache.get(self.key, 0) < self.num_requests

    def record_failure(self, request, view) -> None:
        if self.rate is None:
            return
        key = self.get_cache_key(request, view)
        if key is None:
            return
        self.cache.add(key, 0, self.duration)
        try:
            self.cache.incr(key)
        except ValueError:  # the window ended between add and incr
            self.cache.set(key, 1, self.duration)

    def clear(self, request, view) -> None:
        key = self.get_cache_key(request, view)
        if self.rate is not None and key is not None:
            self.cache.delete(key)

    def wait(self) -> float:
        now = self.timer()
        return self.duration - now % self.duration


class AddressLoginThrottle(FailedLoginThrottle):
    scope = "auth_address"

    def get_ident_key(self, request) -> str | None:
        return client_address(request) or None


class UsernameLoginThrottle(FailedLoginThrottle):
    scope = "auth_username"

    def get_ident_key(self, request) -> str | None:
        data = request.data
        username = data.get("username") if isinstance(data, Mapping) else None
        if not isinstance(username, str) or not username.strip():
            return None
        # One count for "Ann" and " ann": a case-insensitive backend would let both in.
        return username.strip().casefold()


def token_for(user) -> Token:
    """The user's token, a new one when the old one has expired. Two logins at
    once both end with the same new token (get_or_create settles the race, and
    the delete names the expired key, never a new one)."""
    token, _ = Token.objects.get_or_create(user=user)
    if token_expired(token):
        Token.objects.filter(pk=token.pk).delete()
        token, _ = Token.objects.get_or_create(user=user)
    return token
