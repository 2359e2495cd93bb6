"""`python -m bench.hot_path`: what one purchase costs, stage by stage, in-process.

Without the noise of a loaded machine: it runs each stage of the hot path N
times in this one process against a fresh bench database and the bench Redis db
(the same defaults and DATABASE_URL / REDIS_URL as flash_sale), and counts for
each stage the SQL queries, the Redis round trips and the CPU time per call:

- create:   POST /api/tickets/purchase/direct/ through the whole middleware stack
            (django.test.Client), publish of the Celery task included;
- sold_out: the same POST for a ticket with no seat left: 409 `sold_out`, from
            the sold-out mark in Redis (tickets/sold_out.py) once one refusal set it;
- status:   GET .../status/ while pending (200), and again with If-None-Match (304);
            `status_decided`: the same GET once the purchase is completed (its row
            read from the database);
- batch:    the `tickets.process_ticket_batch` task body deciding all N purchases
            (reserve, charge, confirm, BATCH_SIZE at a time), per purchase;
- deliver:  the `tickets.deliver_batch` task body mailing all N (e-mail with QR
            codes, complete), per purchase;
- batch_of_K, deliver_of_K: the same two tasks deciding (mailing) K purchases at a
            time, K = BENCH_HOT_PATH_SMALL_BATCH (8), per call: a live sale's
            batches are that small (docs/capacity.md), so a batch's fixed cost
            (its statements, whatever the batch's size) is most of a purchase's.

The tasks run through Celery's tracer in this process (`task.apply`), so the
worker's own overhead (broker ack, events, result backend, pool IPC, and the
DB connection Celery closes around every task) is not in these numbers: the
py-spy profile of the live bench shows that part. With BENCH_PYINSTRUMENT=1 it
also writes a pyinstrument profile of each stage to bench/results/profile/.
"""

import json
import os
import sys
import time
import uuid
from collections import Counter

from bench.config import Config
from bench.stack import ROOT, Stack

OUT = ROOT / "bench" / "results" / "profile"


class Rounds:
    """`rounds` arguments for `measure`, each made by `make()` just before its
    call (outside the timing)."""

    def __init__(self, rounds: int, make):
        self.rounds, self.make = rounds, make

    def __len__(self) -> int:
        return self.rounds

    def __iter__(self):
        return (self.make() for _ in range(self.rounds))


class RedisCounter:
    """Counts Redis round trips (one per command, one per pipeline) in this process."""

    def __init__(self) -> None:
        import redis.connection

        self.count = 0
        self.commands: Counter = Counter()
        self.active = False  # counting only while a measured call runs
        self._original = redis.connection.AbstractConnection.send_packed_command
        counter = self

        def send_packed_command(conn, command, check_health=True):
            if not counter.active:
                return counter._original(conn, command, check_health)
            counter.count += 1
            first = command[0] if isinstance(command, list) and command else command
            name = bytes(first).split(b"\r\n")[2:3] if isinstance(first, bytes | bytearray) else []
            counter.commands[name[0].decode(errors="replace").upper() if name else "?"] += 1
            return counter._original(conn, command, check_health)

        redis.connection.AbstractConnection.send_packed_command = send_packed_command

    def reset(self) -> None:
        self.count = 0
        self.commands.clear()


def _is_control(sql: str) -> bool:
    return sql.split(" ", 1)[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def measure(name, fn, setups, *, redis_counter, profile_dir=None, items=None) -> dict:
    """Runs fn(arg) for each arg from setups; CPU and wall per call, queries, round
    trips. A call that handles many purchases (a batch) is counted per purchase
    when `items` says how many it handled in all."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    profiler = None
    if profile_dir:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
    cpu = wall = 0.0
    queries = statements = 0
    sample_sql: list[str] = []
    redis_counter.reset()
    for i, arg in enumerate(setups):
        with CaptureQueriesContext(connection) as captured:
            if profiler:
                profiler.start()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            redis_counter.active = True
            fn(arg)
            redis_counter.active = False
            cpu += time.process_time() - cpu0
            wall += time.perf_counter() - wall0
            if profiler:
                profiler.stop()
        queries += len(captured.captured_queries)
        statements += sum(1 for q in captured.captured_queries if not _is_control(q["sql"]))
        if i == len(setups) // 2:
            sample_sql = [q["sql"][:160] for q in captured.captured_queries]
    n = items or len(setups)
    if profiler:
        (profile_dir / f"{name}.txt").write_text(
            profiler.output_text(unicode=False, show_all=False)
        )
        profiler.write_html(str(profile_dir / f"{name}.html"))
    return {
        "calls": n,
        "cpu_ms_per_call": round(1000 * cpu / n, 2),
        "wall_ms_per_call": round(1000 * wall / n, 2),
        "queries_per_call": round(queries / n, 2),
        "sql_statements_per_call": round(statements / n, 2),
        "transaction_control_per_call": round((queries - statements) / n, 2),
        "redis_round_trips_per_call": round(redis_counter.count / n, 2),
        "redis_commands": dict(redis_counter.commands.most_common()),
        "sql_of_one_call": sample_sql,
    }


def main() -> int:
    n = int(os.environ.get("BENCH_HOT_PATH_CALLS") or 200)
    return in_bench_stack("hot-path", lambda: run(n))


def in_bench_stack(name: str, measure_all) -> int:
    """Runs `measure_all()` in this process against a fresh bench database and
    the bench Redis db (flash_sale's defaults), dropped afterwards."""
    config = Config()
    logdir = ROOT / "bench" / "results" / "logs" / name
    logdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(config, logdir)
    stack.prepare_backends()
    try:
        os.environ.update({k: v for k, v in stack.env().items() if k != "PATH"})
        os.environ["ALLOWED_HOSTS"] = "testserver"
        stack.migrate()
        import django

        django.setup()
        return measure_all()
    finally:
        from django.db import connections

        connections.close_all()
        stack.drop_database()


def buy(client, ticket_id: int, i: int) -> str:
    """One buyer's POST, each from its own address (as behind the proxy): the
    purchase id of its 202."""
    response = post_purchase(client, ticket_id, i)
    assert response.status_code == 202, response.content
    return response.json()["purchase_id"]


def post_purchase(client, ticket_id: int, i: int):
    return client.post(
        "/api/tickets/purchase/direct/",
        data={
            "ticket_id": ticket_id,
            "quantity": 1,
            "customer_name": f"Buyer {i}",
            "customer_email": f"hot{i}.{uuid.uuid4().hex[:6]}@bench.example.com",
            "payment_method": "card",
            "payment_token": "tok_success",
        },
        content_type="application/json",
        HTTP_X_FORWARDED_FOR=f"198.18.{i >> 8 & 255}.{i & 255}",
    )


# The stages one seated purchase goes through (a 304 and a refusal are not).
_ONE_PURCHASE = ("create", "status_200", "batch", "deliver", "status_decided")


def run(n: int) -> int:
    from django.test import Client

    from bench.sale import create_ticket
    from tickets.models import TicketPurchase
    from workers.celery import app
    from workers.delivery_tasks import deliver_batch
    from workers.tasks import process_ticket_batch

    profile_dir = None
    if os.environ.get("BENCH_PYINSTRUMENT"):
        profile_dir = OUT
        profile_dir.mkdir(parents=True, exist_ok=True)
    redis_counter = RedisCounter()
    ticket_id = create_ticket("Hot path", n * 4)
    client = Client()
    ids: list[str] = []
    etags: dict[str, str] = {}

    def create(i: int) -> None:
        ids.append(buy(client, ticket_id, i))

    sold_out_ticket_id = create_ticket("Hot path, sold out", 1)

    def sold_out(i: int) -> None:
        response = post_purchase(client, sold_out_ticket_id, i)
        assert response.status_code == 409, response.content

    def status(purchase_id: str) -> None:
        response = client.get(f"/api/tickets/purchase/{purchase_id}/status/")
        assert response.status_code == 200, response.status_code
        etags[purchase_id] = response.headers["ETag"]

    def status_decided(purchase_id: str) -> None:
        response = client.get(f"/api/tickets/purchase/{purchase_id}/status/")
        assert response.json()["status"] == "completed", response.content

    def status_304(purchase_id: str) -> None:
        response = client.get(
            f"/api/tickets/purchase/{purchase_id}/status/", HTTP_IF_NONE_MATCH=etags[purchase_id]
        )
        assert response.status_code == 304, response.status_code

    def batch(count: int) -> None:
        decided = process_ticket_batch.apply(args=[ticket_id]).get()
        assert decided == count, (decided, count)

    def deliver(count: int) -> None:
        assert deliver_batch.apply().get() == count

    # Warm up every code path once (imports, URL resolver, first connections).
    create(-1)
    status(ids[0])
    batch(1)
    deliver(1)
    buy(client, sold_out_ticket_id, -2)
    assert process_ticket_batch.apply(args=[sold_out_ticket_id]).get() == 1  # its one seat sold
    deliver(1)
    sold_out(-3)
    ids.clear()
    stages = {}
    opts = {"redis_counter": redis_counter, "profile_dir": profile_dir}
    stages["create"] = measure("create", create, range(n), **opts)
    stages["sold_out"] = measure("sold_out", sold_out, range(n, 2 * n), **opts)
    stages["status_200"] = measure("status_200", status, list(ids), **opts)
    stages["status_304"] = measure("status_304", status_304, list(ids), **opts)
    stages["batch"] = measure("batch", batch, [n], items=n, **opts)
    stages["deliver"] = measure("deliver", deliver, [n], items=n, **opts)
    stages["status_decided"] = measure("status_decided", status_decided, list(ids), **opts)
    k = int(os.environ.get("BENCH_HOT_PATH_SMALL_BATCH") or 8)
    rounds = max(1, n // k)
    buyers = iter(range(2 * n, 10 * n))

    def waiting(count: int) -> int:
        for _ in range(count):
            create(next(buyers))
        return count

    def decided(count: int) -> int:
        batch(waiting(count))
        return count

    stages[f"batch_of_{k}"] = measure(
        f"batch_of_{k}", batch, Rounds(rounds, lambda: waiting(k)), **opts
    )
    deliver(rounds * k)
    stages[f"deliver_of_{k}"] = measure(
        f"deliver_of_{k}", deliver, Rounds(rounds, lambda: decided(k)), **opts
    )
    app.control.purge()
    done = TicketPurchase.objects.filter(ticket_id=ticket_id, status="completed").count()
    total = {
        key: round(sum(stage[key] for name, stage in stages.items() if name in _ONE_PURCHASE), 2)
        for key in (
            "cpu_ms_per_call",
            "queries_per_call",
            "sql_statements_per_call",
            "redis_round_trips_per_call",
        )
    }
    result = {"calls_per_stage": n, "completed": done, "stages": stages, "one_of_each": total}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "hot_path.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| stage | CPU ms/call | wall ms/call | SQL round trips (statements + BEGIN/COMMIT/…) "
          "| Redis round trips |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for name, stage in stages.items():
        print(
            f"| {name} | {stage['cpu_ms_per_call']} | {stage['wall_ms_per_call']} | "
            f"{stage['queries_per_call']} ({stage['sql_statements_per_call']} + "
            f"{stage['transaction_control_per_call']}) | {stage['redis_round_trips_per_call']} |"
        )
    print(f"\nfull report: {(OUT / 'hot_path.json').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
