"""Fixtures and hooks of the whole suite.

Markers come from fixtures, never by hand: `pytest_collection_modifyitems`
marks each test `worker`, `browser` or `fault` by the fixtures it uses
(directly or through other fixtures), so that `make test-fast` can leave them
out. A test that starts a worker without such a fixture fails: see
`tests.worker_process.require_mark`.
"""

from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from tests import worker_process
from tests.worker_process import ALL_QUEUES, BeatProcess, WebServer, WorkerProcess

# Fixtures that start the product's processes (a Celery worker or beat, gunicorn,
# a whole stack), by the module that defines them: a test that uses one is marked
# `worker`.
WORKER_FIXTURES = {
    "tests.conftest": {"worker", "start_worker", "start_beat", "web_server"},
    "tests.browser.conftest": {"pipeline"},
    "tests.faults.conftest": {"stack"},
}
# Every fixture of these modules marks the tests that use it.
MARKER_OF_FIXTURE_MODULE = {
    "tests.browser.conftest": "browser",  # Chromium, Playwright, the project under gunicorn
    "tests.faults.conftest": "fault",  # private redis-server/PostgreSQL, stopped mid-test
}


def fixture_markers(item: pytest.Item) -> set[str]:
    """The markers a test earns by the fixtures it uses, wherever they are requested."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return set()
    markers: set[str] = set()
    for name in item.fixturenames:
        # Every definition in sight, overridden ones too (an override may use them).
        for fixturedef in info.name2fixturedefs.get(name, ()):
            module = getattr(fixturedef.func, "__module__", None)
            if name in WORKER_FIXTURES.get(module, ()):
                markers.add("worker")
            if module in MARKER_OF_FIXTURE_MODULE:
                markers.add(MARKER_OF_FIXTURE_MODULE[module])
    return markers


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by the markers
def pytest_collection_modifyitems(items):
    for item in items:
        for marker in sorted(fixture_markers(item)):
            if item.get_closest_marker(marker) is None:
                item.add_marker(marker)


def pytest_sessionstart(session):
    """A run on RabbitMQ (`make test-rabbitmq`) whose RabbitMQ does not answer stops
    at once, saying so, instead of waiting out every worker's start."""
    from project.celery_settings import broker_kind
    from tests.rabbitmq import rabbitmq_answers

    url = settings.CELERY_BROKER_URL
    if broker_kind(url) == "amqp" and not rabbitmq_answers(url):
        address = urlsplit(url)
        pytest.exit(
            f"CELERY_BROKER_URL is RabbitMQ at {address.hostname}:{address.port or 5672}, "
            "where nothing answers",
            returncode=3,
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    worker_process.running_test = item  # what require_mark() checks


# The project's hashers, as other processes (gunicorn, workers) have them.
PROJECT_HASHERS = list(settings.PASSWORD_HASHERS)


@pytest.fixture(autouse=True)
def _fast_password_hashing(request):
    """Users made in the test's own process hash their passwords with a fast
    hasher (the project's one costs about half a second a user). Tests that let
    other processes check passwords (gunicorn, workers) keep the project's."""
    if any(request.node.get_closest_marker(m) for m in ("worker", "browser", "fault")):
        yield
        return
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher", *PROJECT_HASHERS]
    with override_settings(PASSWORD_HASHERS=fast):
        yield


@pytest.fixture(autouse=True)
def _fresh_redis_state():
    """The simulated gateway, the throttles and the caps keep state in Redis: start each
    test clean."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for pattern in (
        "simgw:*",
        "tickets:*throttle*",
        "tickets:wl-mails:*",
        "doorbell:*",
        "tickets:queue:*",
        "delivery:claims:*",
        "tickets:inflight:*",
        "tickets:soldout:*",
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


# --- Real processes: each of these fixtures marks its tests `worker` ---------------------
#
# Tests that use them need `django_db(transaction=True)`: other processes only
# see committed rows.


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    """A real `celery worker` process on the real broker, against the test database,
    shared by the tests of a module that use it (started by the first of them)."""
    process = WorkerProcess(name="module").start()
    yield process
    process.stop()


@pytest.fixture
def start_worker(django_db_setup, django_db_blocker):
    """Starts real `celery worker` processes of the test's own, when the test says:
    `start_worker("node-a", concurrency=2, extra_env={...}, purge=False)` returns the
    running `WorkerProcess`. Each is stopped at teardown, if the test has not
    stopped (or killed) it before.

    `purge=False` keeps the messages already waiting on the broker for the worker
    (the first worker of a test purges them, as the module's `worker` does);
    `queues="delivery"` makes it consume only those (all of them by default).
    """
    started: list[WorkerProcess] = []

    def start(
        name: str,
        *,
        concurrency: int = 4,
        extra_env: dict | None = None,
        purge: bool = True,
        queues: str = ALL_QUEUES,
    ) -> WorkerProcess:
        process = WorkerProcess(name, concurrency=concurrency, extra_env=extra_env, queues=queues)
        started.append(process)
        return process.start(purge=purge)

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def start_beat(django_db_setup, django_db_blocker):
    """Starts a real `celery beat` on the test database's schedule when the test
    says: `start_beat(extra_env={...})` returns the running `BeatProcess`; stopped
    at teardown."""
    started: list[BeatProcess] = []

    def start(**kwargs) -> BeatProcess:
        process = BeatProcess(**kwargs)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def web_server(django_db_setup, django_db_blocker):
    """The project under gunicorn (2 processes of 8 threads) on a free loopback
    port, against the test database: `web_server.url`."""
    server = WebServer().start()
    yield server
    server.stop()
