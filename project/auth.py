"""API tokens: DRF's own `Token`, with an age limit and a guarded login.

A token is refused (401) once it is older than AUTH_TOKEN_TTL_HOURS; logging in
again replaces an expired token with a new one (a token still in date is
returned as it is, as DRF does). No crypto of our own: the key is DRF's.

Guessing passwords is throttled on failed attempts, counted per client address
(`auth_address`) and per username (`auth_username`). Every attempt is counted
before its password is checked (one atomic increment), so parallel guesses
cannot all slip under the limit; a successful login then takes its own attempt
back off the address's count and clears its username's count. Once either
count passes its rate within the rate's period, every attempt for that address
or username, right password or not, is 429 until the period ends. The windows
are fixed (a burst across a window's end may reach twice the rate), counted in
the shared cache (Redis).

This module is named in REST_FRAMEWORK settings, which DRF imports while its
views module is loading: it must not import DRF views (the login view is in
project/api_auth.py).
"""

import contextlib
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
    """Counts login attempts that have not succeeded: `allow_request` counts the
    attempt (one atomic cache increment in a fixed window of the rate's period)
    before the view checks the password, and the view calls `forgive` or `clear`
    when it succeeded."""

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
        self.cache.add(self.key, 0, self.duration)
        try:
            attempts = self.cache.incr(self.key)
        except ValueError:  # the window ended between add and incr
            self.cache.set(self.key, 1, self.duration)
            attempts = 1
        return attempts <= self.num_requests

    def forgive(self, request, view) -> None:
        """The attempt succeeded: it no longer counts as a failure."""
        key = self.get_cache_key(request, view)
        if self.rate is not None and key is not None:
            with contextlib.suppress(ValueError):  # the window ended meanwhile
                self.cache.decr(key)

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
