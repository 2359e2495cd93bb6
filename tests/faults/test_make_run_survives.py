"""`make run` outlives its processes and its broker: a prefork pool child
killed and then the broker restarted (the reconnect that can kill a prefork
worker: Celery issue 9250), then the pipeline worker killed outright. Each
process is started again by the stack's process manager; buyers before and
after end completed, and every process is running at the end. Ctrl-C still
stops everything.

The worker runs the prefork pool here on purpose (WORKER_POOL), the setting
that can die on a reconnect; the Procfile's default is threads."""

import time

import psutil
import pytest

from tests.faults.run_stack import RunStack
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def test_make_run_survives_a_dead_pool_child_a_broker_restart_and_a_dead_worker(
    private_postgres, private_redis
):
    broker, gateway = private_redis("broker"), private_redis("gateway")
    stack = RunStack(
        database_url=private_postgres.database_url,
        redis_url=broker.url(),
        gateway_redis_url=gateway.url(),
        WORKER_POOL="prefork",
        WORKER_CONCURRENCY="2",
        SIMULATED_GATEWAY_LATENCY_MS="50",
    )
    try:
        stack.start()
        ticket = stack.seed_ticket(seats=20)
        first = stack.buy(ticket, "before@example.com")
        wait_for(lambda: stack.status(first) == "completed", timeout=60)

        child = stack.pool_children("worker")[0]
        child.kill()
        broker.kill()
        time.sleep(1.5)
        broker.start()
        wait_for(stack.all_running, timeout=60)

        worker = stack.pid_of("worker")
        psutil.Process(worker).kill()
        wait_for(lambda: stack.all_running() and stack.pid_of("worker") != worker, timeout=60)

        after = [stack.buy(ticket, f"after{n}@example.com") for n in range(5)]
        wait_for(lambda: all(stack.status(p) == "completed" for p in after), timeout=120)
        assert stack.all_running(), stack.programs()
    except BaseException:
        print(f"\n----- make run's output -----\n{stack.log(150)}")
        raise
    finally:
        assert stack.stop(), "Ctrl-C left processes of the stack running"
