import pytest
import redis
from django.conf import settings

from tests.worker_process import WorkerProcess


@pytest.fixture(autouse=True)
def _fresh_redis_state():
    """The simulated gateway and the throttles keep state in Redis: start each test clean."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for pattern in (
        "simgw:*",
        "tickets:*throttle*",
        "doorbell:*",
        "tickets:queue:*",
        "delivery:claims:*",
    ):
        for key in client.scan_iter(pattern):
            client.delete(key)


class Published(list):
    """Task messages as (task name, args), in the order they were published;
    `delays` has the countdown each one asked for (None: at once)."""

    def __init__(self):
        super().__init__()
        self.delays: list[float | None] = []

    def ids(self, task_name: str) -> list:
        return [args[0] for name, args in self if name == task_name]

    def record(self, name: str, args: tuple, countdown: float | None = None) -> None:
        self.append((name, args))
        self.delays.append(countdown)


@pytest.fixture
def published(monkeypatch):
    """Catches what services publish for the workers instead of sending it."""
    from project import queue

    sent = Published()
    monkeypatch.setattr(queue, "publish", sent.record)
    return sent


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    """A real `celery worker` process on the real broker, against the test database.

    Tests that use it need `django_db(transaction=True)`: the worker only sees
    committed rows.
    """
    process = WorkerProcess(name="module").start()
    yield process
    process.stop()
