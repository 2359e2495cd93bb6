"""Outage retries and gateway retries are counted apart: a task that waited out
a database or broker outage still gets its whole gateway backoff, so no
purchase fails on a gateway error before its own retries have run.

Unit tests of the retry policy on one task run eagerly (retries at once); the
last test runs a real worker on the real broker."""

import uuid

import pytest
import redis
from django.conf import settings as django_settings
from django.db import OperationalError

from gateways import TransientGatewayError
from workers.celery import app
from workers.policy import OUTAGE_MAX_RETRIES, PIPELINE_TASK, run_service


def scripted(*steps):
    """A service that fails as scripted, one step per call, then answers "done"."""
    calls = iter(steps)

    def work():
        failure = next(calls, None)
        if failure is not None:
            raise failure
        return "done"

    return work


@pytest.fixture
def task_running(settings):
    settings.PAYMENT_MAX_RETRIES = 2
    settings.PAYMENT_RETRY_BACKOFF_SECONDS = 0
    gave_up = []
    script = {}

    @app.task(name="tests.retry_counts", bind=True, max_retries=2, **PIPELINE_TASK)
    def pipeline_task(self, object_id: str):
        return run_service(
            self,
            label="purchase",
            object_id=object_id,
            work=script["work"],
            give_up=lambda: gave_up.append(object_id) or "gave up",
        )

    def run(*steps):
        script["work"] = scripted(*steps)
        return pipeline_task.apply(args=["p1"]).get(), gave_up

    yield run
    app.tasks.pop("tests.retry_counts", None)


def outage():
    return OperationalError("could not connect to server")


def gateway_error():
    return TransientGatewayError("gateway timed out")


def test_a_gateway_error_after_an_outage_gets_its_own_retries(task_running):
    result, gave_up = task_running(*[outage()] * 4, gateway_error(), gateway_error())
    assert (result, gave_up) == ("done", [])


def test_gateway_retries_are_still_bounded(task_running):
    result, gave_up = task_running(outage(), *[gateway_error()] * 3)
    assert (result, gave_up) == ("gave up", ["p1"])


def test_outage_retries_are_still_bounded(task_running):
    result, gave_up = task_running(*[outage()] * (OUTAGE_MAX_RETRIES + 1))
    assert (result, gave_up) == (None, [])  # left to the sweeps, not failed


def test_a_real_worker_counts_outage_and_gateway_retries_apart(start_worker):
    """The count rides in a header of the retried message: through a real
    broker and worker, four outages and then two gateway errors still end done."""
    start_worker(
        "retry-probe",
        concurrency=1,
        extra_env={
            "CELERY_WORKER_INCLUDE": "tests.workers.retry_probe",
            "PAYMENT_RETRY_BACKOFF_SECONDS": "0.05",
        },
    )
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    key = uuid.uuid4().hex
    app.send_task("tests.retry_probe", args=[key, 4, 2])
    _, end = client.blpop([f"probe:{key}:end"], timeout=60) or (None, None)
    assert end == b"done"
    assert int(client.get(f"probe:{key}:tries")) == 7
