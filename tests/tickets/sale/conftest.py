"""Fixtures of the sale's tests."""

import pytest
import redis
from django.db import connection

from project.throttling import ClientRateThrottle


@pytest.fixture
def trace(monkeypatch):
    """What this process sends, in order: "redis" per round trip (a command or a
    whole pipeline), and per SQL statement its first word, or "INSERT" for any
    statement that inserts (on PostgreSQL the create is one `WITH ... INSERT`)."""
    sent: list[str] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(conn, command, check_health=True):
        sent.append("redis")
        return original(conn, command, check_health)

    def sql(execute, statement, params, many, context):
        words = statement.upper().split()
        sent.append("INSERT" if "INSERT" in words else words[0])
        return execute(statement, params, many, context)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    with connection.execute_wrapper(sql):
        yield sent


@pytest.fixture
def rate(monkeypatch):
    def set_rate(value: str) -> None:
        rates = {**ClientRateThrottle.THROTTLE_RATES, "purchase_create": value}
        monkeypatch.setattr(ClientRateThrottle, "THROTTLE_RATES", rates)

    return set_rate
