"""API tokens: DRF tokens that expire after AUTH_TOKEN_TTL_HOURS, and a token
endpoint that throttles failed logins per username and per client address."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from project.auth import FailedLoginThrottle
from tests.at_once import at_once
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/auth/token/"
PRIVATE_URL = "/api/tickets/purchases/user/"  # any endpoint for authenticated users
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    # Many logins here: a hasher this weak is fine for passwords that protect nothing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def rates(monkeypatch):
    def set_rates(*, address: str = "1000/minute", username: str = "1000/minute") -> None:
        limits = {"auth_address": address, "auth_username": username}
        monkeypatch.setattr(FailedLoginThrottle, "THROTTLE_RATES", limits)

    return set_rates


@pytest.fixture
def frozen():
    """Throttle windows follow the clock: hold it still while a test counts."""
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def login(username: str, password: str, address: str = "127.0.0.1", **headers):
    return APIClient().post(
        TOKEN_URL,
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
        **headers,
    )


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_right_password_gets_a_token_that_opens_the_api():
    UserFactory(username="ann")
    response = login("ann", PASSWORD)
    assert response.status_code == 200
    assert list(response.json()) == ["token"]
    assert with_token(response.json()["token"]).get(PRIVATE_URL).status_code == 200
    assert login("ann", PASSWORD).json() == response.json()  # in date: the same token


def test_twenty_wrong_passwords_in_a_row_for_one_username_get_429(rates, frozen):
    rates(username="10/minute")
    UserFactory(username="ann")
    UserFactory(username="bob")

    # From twenty addresses, so only the username's count can stop them.
    statuses = [login("ann", f"guess-{n}", address=f"10.0.0.{n}").status_code for n in range(20)]

    assert statuses == [400] * 10 + [429] * 10
    refused = login("ann", PASSWORD, address="10.0.1.1")
    assert refused.status_code == 429  # the right password too, until the window ends
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
    assert login("bob", PASSWORD, address="10.0.0.1").status_code == 200
    assert not Token.objects.filter(user__username="ann").exists()

    frozen.shift(timedelta(seconds=61))
    assert login("ann", PASSWORD).status_code == 200


def test_wrong_passwords_from_one_address_get_429_whatever_the_username(rates, frozen):
    rates(address="10/minute")
    UserFactory(username="ann")

    # A new username and a new forged X-Forwarded-For each time (NUM_PROXIES is 0).
    statuses = [
        login(
            f"user{n}", "guess", address="10.0.0.1", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}"
        ).status_code
        for n in range(20)
    ]

    assert statuses == [400] * 10 + [429] * 10
    assert login("ann", PASSWORD, address="10.0.0.1").status_code == 429
    assert login("ann", PASSWORD, address="10.0.0.2").status_code == 200


def test_behind_a_trusted_proxy_the_address_it_reports_is_counted(rates, frozen, settings):
    settings.NUM_PROXIES = 1
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    rates(address="3/minute")
    proxy = {"address": "10.0.0.254"}

    for _ in range(3):
        assert login("x", "guess", **proxy, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 400
    assert login("x", "guess", **proxy, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
    assert login("x", "guess", **proxy, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 400


def test_only_failures_count_and_a_success_clears_the_usernames_count(rates, frozen):
    rates(username="10/minute")
    UserFactory(username="ann")
    for _ in range(5):
        assert login("ann", PASSWORD).status_code == 200
    for attempt in (["guess"] * 9, [PASSWORD], ["guess"] * 9):
        for password in attempt:
            assert login("ann", password).status_code in (200, 400)
    assert login("ann", PASSWORD).status_code == 200


def test_an_expired_token_gets_401():
    token = Token.objects.create(user=UserFactory(username="ann"))
    client = with_token(token.key)

    with time_machine.travel(token.created + timedelta(hours=23, minutes=59)):
        assert client.get(PRIVATE_URL).status_code == 200
    with time_machine.travel(token.created + timedelta(hours=24, seconds=1)):
        response = client.get(PRIVATE_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert response["WWW-Authenticate"] == "Token"


def test_the_token_age_is_configurable(settings):
    settings.AUTH_TOKEN_TTL_HOURS = 1
    token = Token.objects.create(user=UserFactory(username="ann"))
    with time_machine.travel(token.created + timedelta(minutes=61)):
        assert with_token(token.key).get(PRIVATE_URL).status_code == 401


def test_logging_in_again_replaces_an_expired_token():
    UserFactory(username="ann")
    old = login("ann", PASSWORD).json()["token"]

    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        # The client still sends its expired token: it may log in all the same.
        response = login("ann", PASSWORD, HTTP_AUTHORIZATION=f"Token {old}")
        assert response.status_code == 200
        new = response.json()["token"]
        assert new != old
        assert with_token(new).get(PRIVATE_URL).status_code == 200
        assert with_token(old).get(PRIVATE_URL).status_code == 401
    assert Token.objects.filter(user__username="ann").count() == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_get_no_further_than_the_limit(rates, settings):
    """Ten guesses at once against a limit of three: the attempt is counted before
    the password is checked, so no more than three are ever checked."""
    if connection.vendor != "postgresql":
        pytest.skip("parallel logins need a database that serves many connections")
    # A real password hash takes a while to check: the window the guesses race in.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    rates(username="3/minute")
    UserFactory(username="carol")
    statuses = at_once(lambda n: login("carol", f"guess-{n}", address=f"10.9.0.{n}").status_code)

    assert sorted(statuses) == [400] * 3 + [429] * 7
