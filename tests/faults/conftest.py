"""Fixtures of the fault tests: private servers and a whole stack on them.

Teardown order is the reverse of set-up: the stack's processes stop before
the servers they use; logs are printed when the test failed.
"""

import uuid

import pytest

from tests.faults.servers import PrivatePostgres, PrivateRabbitMQ, PrivateRedis, ServerUnavailable
from tests.faults.stack import Stack


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(request) -> bool:
    return any(
        getattr(request.node, f"report_{when}", None) is not None
        and getattr(request.node, f"report_{when}").failed
        for when in ("setup", "call")
    )


@pytest.fixture
def private_postgres():
    """A PostgreSQL cluster of the test's own, running, with its own database."""
    try:
        cluster = PrivatePostgres()
    except ServerUnavailable as reason:
        pytest.skip(f"fault test needs a private PostgreSQL cluster: {reason}")
    try:
        cluster.init().start()
        cluster.create_database(f"fault_{uuid.uuid4().hex[:8]}")
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_redis():
    """Starts private redis-servers by name: `private_redis("broker")`."""
    servers: list[PrivateRedis] = []

    def start(name: str) -> PrivateRedis:
        try:
            server = PrivateRedis(name)
        except ServerUnavailable as reason:
            pytest.skip(f"fault test needs a private Redis: {reason}")
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def private_rabbitmq():
    """Starts a private RabbitMQ node when the test asks: `private_rabbitmq()`."""
    nodes: list[PrivateRabbitMQ] = []

    def start() -> PrivateRabbitMQ:
        try:
            node = PrivateRabbitMQ()
        except ServerUnavailable as reason:
            pytest.skip(f"fault test needs a private RabbitMQ node: {reason}")
        nodes.append(node)
        return node.start()

    yield start
    for node in nodes:
        node.stop()


@pytest.fixture
def stack(request, private_postgres, private_redis, private_rabbitmq):
    """Starts the product (web, worker, beat) on the given servers; the Celery
    broker is `broker_url` when given, else Redis (`redis_url`)."""
    stacks: list[Stack] = []

    def start(
        *, database_url: str, redis_url: str, gateway_redis_url: str, broker_url: str = ""
    ) -> Stack:
        started = Stack(
            database_url=database_url,
            redis_url=redis_url,
            gateway_redis_url=gateway_redis_url,
            broker_url=broker_url,
        )
        stacks.append(started)
        return started.start()

    yield start
    failed = _failed(request)
    for started in stacks:
        started.stop()
        if failed:
            print(f"\n{started.diagnostics(lines=120)}\n(full logs kept in {started.workdir})")
        else:
            started.remove()
