"""A sale through rolling faults on `make run`'s stack with the project's own
thresholds: buyers arrive at 4 a second while, every 25 seconds in turn, the
mailer's pool children are killed, a gunicorn worker is killed, the broker is
killed and restarted empty, and PostgreSQL is stopped hard and restarted. At the
end every buyer holds exactly one completed purchase with its code, nothing is
oversold, nobody saw a 500, and every process is running.

A soak, not part of `make test`: `make chaos` runs it (SOAK_SECONDS, default
300) and prints its figures."""

import os
import time

import pytest

from tests.faults.audit import explain, sale_verdict
from tests.faults.buyers import Sale
from tests.faults.run_stack import RunStack

SOAK_SECONDS = int(os.environ.get("SOAK_SECONDS", "0"))
BUYERS_PER_SECOND = 4
FAULT_EVERY_SECONDS = 25

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SOAK_SECONDS, reason="a soak: `make chaos` runs it (SOAK_SECONDS)"),
]


def kill_pool_children(stack: RunStack) -> str:
    children = stack.pool_children("mailer") + stack.pool_children("worker")
    for child in children:
        child.kill()
    return f"killed {len(children)} pool children"


def kill_a_web_worker(stack: RunStack) -> str:
    children = stack.pool_children("web")
    children[0].kill()
    return "killed a gunicorn worker"


def test_a_sale_through_rolling_faults_loses_nothing(private_postgres, private_redis):
    broker, gateway = private_redis("broker"), private_redis("gateway")
    stack = RunStack(
        database_url=private_postgres.database_url,
        redis_url=broker.url(),
        gateway_redis_url=gateway.url(),
        defaults=True,
    )

    def restart_broker() -> str:
        broker.kill()
        time.sleep(1.5)
        broker.start()
        return "broker killed and restarted empty"

    def restart_database() -> str:
        private_postgres.stop_immediately()
        time.sleep(2)
        private_postgres.start()
        return "PostgreSQL stopped hard and restarted"

    faults = [
        lambda: kill_pool_children(stack),
        lambda: kill_a_web_worker(stack),
        restart_broker,
        restart_database,
    ]
    try:
        stack.start()
        buyers = SOAK_SECONDS * BUYERS_PER_SECOND
        ticket_id = stack.seed_ticket(seats=buyers + 100)
        began = time.monotonic()
        sale = Sale(stack.url, ticket_id, buyers=buyers, stagger=1 / BUYERS_PER_SECOND,
                    seconds=SOAK_SECONDS + 60).start()  # fmt: skip
        struck = []
        while time.monotonic() - began < SOAK_SECONDS:
            time.sleep(FAULT_EVERY_SECONDS)
            fault = faults[len(struck) % len(faults)]
            struck.append(f"{time.monotonic() - began:5.0f}s {fault()}")
        sale.join()
        sold = time.monotonic() - began
        problems, settled_in = sale_verdict(
            stack=stack,
            sale=sale,
            database_url=private_postgres.database_url,
            gateway_redis_url=gateway.url(),
            ticket_id=ticket_id,
            settle_timeout=420,
        )
        print(
            f"\nrolling faults: {buyers} buyers over {sold:.0f}s, {len(struck)} faults:\n  "
            + "\n  ".join(struck)
            + f"\nsettled {settled_in:.0f}s after the last buyer; answers: {sale.answer_summary()}"
            + f"\nprocesses: {stack.programs()}"
        )
        assert not problems, explain(problems, sale)
        assert stack.all_running(), stack.programs()
    except BaseException:
        print(f"\n----- make run's output -----\n{stack.log(200)}")
        raise
    finally:
        assert stack.stop(), "Ctrl-C left processes of the stack running"
