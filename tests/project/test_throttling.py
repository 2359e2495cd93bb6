"""The API's rate limit (project/throttling.py): ScopedRateThrottle's scopes and
rates, counted with one Redis round trip in a fixed window."""

import pytest
import redis
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from project import throttling
from project.redis_client import redis_client
from project.throttling import ClientRateThrottle
from tests.factories import TicketFactory, UserFactory, purchase_request

pytestmark = pytest.mark.django_db


class ScopedView(APIView):
    throttle_scope = "purchase_create"


class UnscopedView(APIView):
    pass


@pytest.fixture
def rates(monkeypatch):
    def set_rate(scope: str, value: str) -> None:
        monkeypatch.setattr(
            ClientRateThrottle,
            "THROTTLE_RATES",
            {**ClientRateThrottle.THROTTLE_RATES, scope: value},
        )

    return set_rate


@pytest.fixture
def round_trips(monkeypatch):
    """Counts Redis round trips (a command, or a whole pipeline) of this process."""
    sent = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(connection, command, check_health=True):
        sent.append(command)
        return original(connection, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return sent


def request(address="198.51.100.7", user=None):
    made = APIRequestFactory().post("/", REMOTE_ADDR=address)
    made.user = user
    return made


def test_it_is_the_apis_default_throttle(settings):
    classes = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]
    assert classes == ["project.throttling.ClientRateThrottle"]


def test_one_round_trip_per_request_and_refused_past_the_rate(rates, round_trips):
    rates("purchase_create", "2/minute")
    throttle = ClientRateThrottle()
    redis_client().ping()  # connect outside the count
    round_trips.clear()
    allowed = [throttle.allow_request(request(), ScopedView()) for _ in range(3)]
    assert allowed == [True, True, False]
    assert len(round_trips) == 3
    assert 0 < throttle.wait() <= 60


def test_the_count_lives_in_a_window_key_the_test_cleanup_matches(rates):
    rates("purchase_create", "5/minute")
    throttle = ClientRateThrottle()
    throttle.allow_request(request(), ScopedView())
    [key] = redis_client().keys("tickets:*throttle*")
    assert key.decode().startswith("tickets:throttle:purchase_create:198.51.100.7:")
    assert int(redis_client().get(key)) == 1
    assert 0 < redis_client().ttl(key) <= 60


def test_clients_are_counted_apart_and_a_user_by_id(rates):
    rates("purchase_create", "1/minute")
    throttle = ClientRateThrottle()
    assert throttle.allow_request(request("198.51.100.1"), ScopedView())
    assert not throttle.allow_request(request("198.51.100.1"), ScopedView())
    assert throttle.allow_request(request("198.51.100.2"), ScopedView())
    user = UserFactory()
    assert throttle.allow_request(request("198.51.100.1", user), ScopedView())
    assert not throttle.allow_request(request("198.51.100.9", user), ScopedView())


def test_a_view_without_a_scope_costs_nothing(round_trips):
    assert ClientRateThrottle().allow_request(request(), UnscopedView())
    assert round_trips == []


def test_past_the_rate_the_api_answers_429_with_retry_after(api_client, rates):
    rates("purchase_create", "1/minute")
    ticket = TicketFactory()
    body = purchase_request(ticket, customer_name="Ann")
    url = "/api/tickets/purchase/direct/"
    assert api_client.post(url, body, format="json").status_code == 202
    refused = api_client.post(url, body, format="json")
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60


def test_redis_unreachable_is_a_503_not_a_500(api_client, monkeypatch):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(throttling, "redis_client", lambda: dead)
    response = api_client.post("/api/tickets/purchase/direct/", {}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable" and response["Retry-After"]
