"""Publish -> start latency of a no-op task on a worker started as the Procfile starts it.

    .venv/bin/python -m bench.publish_latency                      # as deployed
    WORKER_QUEUES=celery .venv/bin/python -m bench.publish_latency # one queue
    BENCH_LATENCY_DROP=transport_timeouts .venv/bin/python -m bench.publish_latency

One worker node (the Procfile's `worker` line, the bench's deployment knobs:
threads pool x4, prefetch 1) on Redis db 8 (flushed before and after) and the
settings `bench.latency_settings` (project.settings, minus what
BENCH_LATENCY_DROP names). This process publishes `workers.ping`
BENCH_LATENCY_TASKS (200) times at BENCH_LATENCY_RATE (50) per second with the
project's own app and publish options (but with a result, to read when it ran):
`publish_to_received` is the worker's `task-received` event's timestamp (its
consumer took the message off Redis) and `publish_to_done` the result's
`date_done` (the ping takes microseconds: done is started), each minus the
moment just before `send_task` (same machine, same clock). The worker's
`task-started` events are not used: from the threads pool many never arrive.
No database is touched: the ping task reads none.
"""

import os
import sys
import threading
import time
from datetime import UTC, datetime

from honcho.environ import parse_procfile

from bench.config import DEFAULT_ADMIN_URL, Config
from bench.report import percentile
from bench.stack import ROOT, Stack

REDIS_URL = "redis://127.0.0.1:6379/8"
SETTINGS = "bench.latency_settings"


def start_worker(stack: Stack) -> None:
    procfile = parse_procfile((ROOT / "Procfile").read_text()).processes
    env = {**stack.worker_env(0), "DJANGO_SETTINGS_MODULE": SETTINGS}
    stack.spawn("worker", "worker0", procfile["worker"], env)


def listen(app, received: dict[str, float], ready: threading.Event) -> None:
    """The worker's `task-received` events (when its consumer took the message off
    Redis), one capture for the whole run: events sent while not subscribed are lost."""

    def on_received(event: dict) -> None:
        received[event["uuid"]] = event["timestamp"]

    with app.connection() as connection:
        receiver = app.events.Receiver(connection, handlers={"task-received": on_received})
        # Subscribed before the first event (a worker heartbeat, every 2 s) comes in.
        for _ in receiver.itercapture(limit=None, timeout=None, wakeup=False):
            ready.set()


def publish(app, tasks: int, rate: float) -> dict[str, float]:
    """`workers.ping` at `rate`/s; its stored result says when it ran (`date_done`)."""
    sent: dict[str, float] = {}
    start = time.monotonic()
    for i in range(tasks):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        at = time.time()
        result = app.send_task("workers.ping", ignore_result=False)
        sent[result.id] = at
    return sent


def done_at(app, task_ids, timeout: float = 15.0) -> dict[str, float]:
    """When each ping ran (it takes microseconds: done is started), from its result."""
    done: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(task_ids) and time.monotonic() < deadline:
        for task_id in set(task_ids) - done.keys():
            meta = app.backend.get_task_meta(task_id)
            if meta.get("status") == "SUCCESS" and meta.get("date_done"):
                stamp = meta["date_done"]
                if isinstance(stamp, str):
                    stamp = datetime.fromisoformat(stamp)
                done[task_id] = stamp.replace(tzinfo=stamp.tzinfo or UTC).timestamp()
        time.sleep(0.2)
    return done


def latency(sent: dict[str, float], when: dict[str, float]) -> dict:
    ms = [(when[i] - at) * 1000 for i, at in sent.items() if i in when]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": round(max(ms), 1) if ms else None,
        "over_100ms": sum(1 for m in ms if m > 100),
    }


def measure(tasks: int, rate: float) -> dict:
    from workers.celery import app

    received: dict[str, float] = {}
    ready = threading.Event()
    thread = threading.Thread(target=listen, args=(app, received, ready), daemon=True)
    thread.start()
    ready.wait(10)
    sent = publish(app, tasks, rate)
    done = done_at(app, list(sent))
    return {
        "tasks": tasks,
        "rate": rate,
        "publish_to_received": latency(sent, received),
        "publish_to_done": latency(sent, done),
    }


def main() -> int:
    import redis

    tasks = int(os.environ.get("BENCH_LATENCY_TASKS") or 200)
    rate = float(os.environ.get("BENCH_LATENCY_RATE") or 50)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logdir = ROOT / "bench" / "results" / "logs" / f"latency-{run_id}"
    logdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(Config(), logdir)
    stack.database_url, stack.redis_url = DEFAULT_ADMIN_URL, REDIS_URL
    redis.Redis.from_url(REDIS_URL).flushdb()
    os.environ.update({k: v for k, v in stack.env().items() if k != "PATH"})
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    try:
        import django

        django.setup()
        start_worker(stack)
        stack._wait_workers(time.monotonic() + 60)
        figures = measure(tasks, rate)
    finally:
        stack.stop()
        redis.Redis.from_url(REDIS_URL).flushdb()
    label = (
        f"WORKER_QUEUES={os.environ.get('WORKER_QUEUES', '(Procfile default)')} "
        f"BENCH_LATENCY_DROP={os.environ.get('BENCH_LATENCY_DROP', '')}"
    )
    print(f"{label}: {figures}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
