"""A task that only tests/workers/test_retry_counts.py's worker loads (`--include`):
its service fails as a test scripts it in Redis, through the pipeline's own retry
policy, and writes down what each try saw."""

import redis
from django.conf import settings
from django.db import OperationalError

from gateways import TransientGatewayError
from workers.celery import app
from workers.policy import PIPELINE_TASK, run_service

PROBE_TASK = "tests.retry_probe"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@app.task(name=PROBE_TASK, bind=True, max_retries=2, **PIPELINE_TASK)
def retry_probe(self, key: str, outages: int, gateway_errors: int) -> str | None:
    client = _redis()

    def work() -> str:
        tries = client.incr(f"probe:{key}:tries")
        if tries <= outages:
            raise OperationalError("could not connect to server")
        if tries <= outages + gateway_errors:
            raise TransientGatewayError("gateway timed out")
        client.rpush(f"probe:{key}:end", "done")
        return "done"

    return run_service(
        self,
        label="probe",
        object_id=key,
        work=work,
        give_up=lambda: client.rpush(f"probe:{key}:end", "gave up") and "gave up",
    )
