"""`make bench`: a flash sale against the stack run as production runs it.

1. A fresh PostgreSQL database and Redis db (unless DATABASE_URL / REDIS_URL
   name others), `migrate`, then gunicorn, Celery workers (prefetch 1) and
   beat with DEBUG off.
2. Burst: one ticket with I seats (BENCH_SEATS, 500); B buyers (BENCH_BUYERS,
   2000) post a purchase each over C connections (BENCH_CONCURRENCY, 100),
   then poll until final.
3. Paced: for each rate of BENCH_PACED_RATES (50,200), a ticket with a seat
   for everyone; BENCH_PACED_BUYERS buyers arrive at that rate, for the
   latency a buyer sees at that offered load.
4. Capacity: a ticket with a seat for each of BENCH_CAPACITY_BUYERS (1000)
   buyers, all at once: seated purchases per second and their server CPU.
5. With BENCH_CALIBRATE=1, once the stack has stopped, the bare stack of
   /work/shared/calibration measured the same way (bench/calibration.py).
6. Audit from the database, JSON in bench/results/ (and latest.json), a
   Markdown table on stdout. Exit 1 on an oversell, a lost purchase, a broken
   invariant, a rejected POST (a 409 `sold_out` is an answer, not a
   rejection) or a calibration that could not be measured.

Every process it started is stopped at the end, on error and on Ctrl-C.
"""

import json
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import psutil
import psycopg

from bench.calibration import run_calibration
from bench.config import Config, rate_label
from bench.load import LoadGenerator
from bench.monitor import Monitor, cpu_between, cpu_ms_per, postgres_backends, postmaster_of
from bench.pyspy import Profiler
from bench.report import markdown, phase_figures
from bench.stack import ROOT, Stack

RESULTS = ROOT / "bench" / "results"
PACKAGES = (
    "Django", "djangorestframework", "celery", "kombu", "redis", "psycopg",
    "gunicorn", "aiohttp", "psutil",
)  # fmt: skip


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def setup_django(stack: Stack) -> None:
    """This process reads and writes the bench database through the ORM too."""
    os.environ.update({k: v for k, v in stack.env().items() if k != "PATH"})
    import django

    django.setup()


def create_ticket(name: str, seats: int) -> int:
    from tickets.models import Ticket

    now = datetime.now(UTC)
    ticket = Ticket.objects.create(
        name=name,
        venue="Bench Arena",
        starts_at=now + timedelta(days=30),
        price=Decimal("80.00"),
        total_quantity=seats,
        available_quantity=seats,
    )
    return ticket.pk


def wait_settled(ticket_id: int, timeout: float = 30.0) -> None:
    """The clients stop at the last final status they saw; give late writes a moment."""
    from tickets.models import TicketPurchase

    deadline = time.monotonic() + timeout
    pending = TicketPurchase.objects.filter(ticket_id=ticket_id).exclude(
        status__in=TicketPurchase.FINAL_STATUSES
    )
    while pending.exists() and time.monotonic() < deadline:
        time.sleep(0.5)


def database_counters(database_url: str) -> dict:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback, tup_inserted, tup_updated, tup_deleted,"
            " tup_returned + tup_fetched FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    keys = ("transactions", "rows_inserted", "rows_updated", "rows_deleted", "rows_read")
    return dict(zip(keys, row, strict=True))


def redis_commands(redis_url: str) -> int:
    import redis

    return int(redis.Redis.from_url(redis_url).info("stats")["total_commands_processed"])


def versions(stack: Stack) -> dict:
    import redis

    found = {name: version(name) for name in PACKAGES}
    found["python"] = platform.python_version()
    with psycopg.connect(stack.database_url) as conn:
        found["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    found["redis_server"] = redis.Redis.from_url(stack.redis_url).info("server")["redis_version"]
    return found


def git_revision() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", "tickets", "workers", "project", "payments")
    return git("rev-parse", "--short", "HEAD") + ("-dirty" if dirty else "")


def run_phase(stack: Stack, monitor: Monitor, config: Config, *, name: str, seats: int,
              buyers: int, rate: float, payments_before: int,
              profiler: "Profiler | None" = None) -> dict:  # fmt: skip
    """One sale: a fresh ticket, the load, then the figures and the audit of it."""
    from bench.audit import audit, purchase_times

    ticket_id = create_ticket(f"{name} {stack.logdir.name}", seats)
    if profiler:
        profiler.start()
    db_before, redis_before = database_counters(stack.database_url), redis_commands(stack.redis_url)
    snap_before = monitor.snapshot()
    load = LoadGenerator(
        base_url=stack.base_url,
        ticket_id=ticket_id,
        buyers=buyers,
        concurrency=config.concurrency,
        rate=rate,
        run_id=f"{stack.logdir.name}-{name}".lower().replace(" ", "-"),
        idempotency_keys=config.idempotency_keys,
        timeout_s=config.timeout_s,
    ).run()
    wait_settled(ticket_id)
    snap_after = monitor.snapshot()
    db_after, redis_after = database_counters(stack.database_url), redis_commands(stack.redis_url)
    figures = phase_figures(load, purchase_times(ticket_id))
    if profiler:
        figures["profile"] = profiler.stop()
    accepted = {b.purchase_id for b in load.buyers if b.purchase_id}
    per_purchase = max(1, len(accepted))
    figures["backend_work"] = {
        **{
            f"{key}_per_purchase": round((db_after[key] - db_before[key]) / per_purchase, 2)
            for key in db_after
        },
        "redis_commands_per_purchase": round((redis_after - redis_before) / per_purchase, 2),
        "note": "counters of the bench database; Redis counts the whole (shared) server",
    }
    figures["cpu"] = cpu_between(snap_before, snap_after)
    figures["audit"] = audit(
        ticket_id=ticket_id,
        accepted_ids=accepted,
        payments_before=payments_before,
        sold_out_emails={b.email for b in load.buyers if b.sold_out},
    )
    figures["server_cpu_ms_per_buyer"] = cpu_ms_per(figures["cpu"], buyers)
    figures["server_cpu_ms_per_seated_purchase"] = cpu_ms_per(
        figures["cpu"], figures["audit"]["seats_sold"]
    )
    return figures


def run_phases(stack: Stack, monitor: Monitor, config: Config, payments_before: int,
               profiler: "Profiler | None") -> dict[str, dict]:  # fmt: skip
    """Burst, paced (one per rate), capacity: each a fresh ticket, in that order."""
    burst = run_phase(
        stack, monitor, config, name="Flash sale", seats=config.seats, buyers=config.buyers,
        rate=config.rate, payments_before=payments_before, profiler=profiler,
    )  # fmt: skip
    phases = {"burst": burst}
    print(
        f"bench: burst done: {burst['accepted_per_s']} accepted/s, "
        f"{burst['confirmed_per_s']} confirmed/s, {burst['sold_out_at_accept']} sold out at "
        f"accept, server CPU {burst['server_cpu_ms_per_buyer']} ms/buyer",
        flush=True,
    )
    for paced_rate in config.paced_rates if config.paced_buyers > 0 else ():
        label = rate_label(paced_rate)
        phases[f"paced_at_{label}"] = phase = run_phase(
            stack, monitor, config, name=f"Paced sale {label}", seats=config.paced_buyers,
            buyers=config.paced_buyers, rate=paced_rate, payments_before=payments_before,
        )  # fmt: skip
        print(f"bench: paced at {label}/s: confirm p99 {phase['confirm_p99_ms']} ms", flush=True)
    if config.capacity_buyers > 0:
        phases["capacity"] = phase = run_phase(
            stack, monitor, config, name="Capacity sale", seats=config.capacity_buyers,
            buyers=config.capacity_buyers, rate=0, payments_before=payments_before,
        )  # fmt: skip
        print(
            f"bench: capacity: {phase['sell_through_per_s']} confirmed/s, "
            f"{phase['server_cpu_ms_per_seated_purchase']} ms server CPU per seated purchase",
            flush=True,
        )
    return phases


def summary(phases: dict[str, dict]) -> dict:
    """The top-level figures: the burst's, the paced p99 per rate, the capacity's, the audit."""
    burst = phases["burst"]
    paced = {name.removeprefix("paced_at_"): f for name, f in phases.items() if "paced_at_" in name}
    capacity = phases.get("capacity")
    audits = {name: figures["audit"] for name, figures in phases.items()}
    first_paced = next(iter(paced.values()), None)
    return {
        **{key: burst[key] for key in BURST_KEYS},
        "paced_confirm_p99_ms": first_paced["confirm_p99_ms"] if first_paced else None,
        **{f"paced_confirm_p99_ms_at_{label}": f["confirm_p99_ms"] for label, f in paced.items()},
        "capacity_confirmed_per_s": capacity["sell_through_per_s"] if capacity else None,
        "server_cpu_ms_per_seated_purchase": (
            capacity["server_cpu_ms_per_seated_purchase"] if capacity else None
        ),
        "audit": burst["audit"],
        "oversold": sum(a["oversold"] for a in audits.values()),
        "lost": sum(a["lost"] for a in audits.values()),
        "rejected": sum(phases[name]["rejected"] for name in phases),
        "audit_ok": all(a["ok"] for a in audits.values()),
        "audits": audits,
        "burst": burst,
        "paced_by_rate": paced,
        **({"capacity": capacity} if capacity else {}),
    }


BURST_KEYS = (
    "accepted_per_s",
    "answered_per_s",
    "sold_out_at_accept",
    "confirmed_per_s",
    "finalized_per_s",
    "sell_through_per_s",
    "server_cpu_ms_per_buyer",
    "accept_p50_ms",
    "accept_p95_ms",
    "accept_p99_ms",
    "confirm_p50_ms",
    "confirm_p95_ms",
    "confirm_p99_ms",
    "polls_per_s",
)


def environment(stack: Stack, load_before: tuple) -> dict:
    return {
        "cpu_count": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "platform": platform.platform(),
        "git": git_revision(),
        "versions": versions(stack),
    }


def main() -> int:
    # Our own SIGINT handler too: asyncio.run's would only cancel the load
    # generator's main task, which the run can outlive.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    config = Config()
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logdir = RESULTS / "logs" / run_id
    logdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(config, logdir)
    monitor: Monitor | None = None
    profiler: Profiler | None = None
    try:
        load_before = os.getloadavg()
        print(f"bench {run_id}: preparing database and broker (logs in {logdir})", flush=True)
        stack.prepare_backends()
        setup_django(stack)
        from payments.models import Payment

        stack.migrate()
        stack.start()
        stack.wait_ready()
        dep = config.deployment
        print(
            f"bench: stack up (gunicorn {dep.web_workers}x{dep.web_worker_class}"
            f"/{dep.web_threads} threads, celery {dep.worker_nodes}x{dep.worker_pool}"
            f"/{dep.worker_concurrency}); {config.buyers} buyers, {config.seats} seats, "
            f"{config.concurrency} clients",
            flush=True,
        )
        monitor = Monitor(
            stack.pids,
            postgres_backends(stack.database_url),
            redis_port=int(stack.redis_url.rsplit(":", 1)[1].split("/")[0]),
            postmaster=postmaster_of(stack.database_url),
        ).start()
        payments_before = Payment.objects.count()
        profiler = Profiler(logdir, stack.pids()) if config.profile else None
        phases = run_phases(stack, monitor, config, payments_before, profiler)
        monitor.stop()
        result: dict = {"run_id": run_id, "config": config.as_dict(), **summary(phases)}
        result["peak_rss_mb"] = monitor.process_kind_report()
        stack.stop()  # the calibration, if any, runs on a machine without our stack
        if config.calibrate:
            result["calibration"] = run_calibration(config, logdir)
        result["environment"] = environment(stack, load_before)
        result = ordered(result)
        write_results(run_id, result)
        print()
        print(markdown(result))
        failures = verdict(result)
        for failure in failures:
            print(f"bench: FAILED: {failure}", file=sys.stderr)
        return 1 if failures else 0
    except KeyboardInterrupt as exc:
        print(f"\nbench: interrupted ({exc or 'Ctrl-C'}), stopping the stack", file=sys.stderr)
        return 130
    finally:
        if profiler:
            profiler.kill()
        if monitor:
            monitor.stop()
        stack.stop()
        _close_django()
        stack.drop_database()


TOP_LEVEL = (
    "run_id",
    *BURST_KEYS,
    "paced_confirm_p99_ms",
    # then paced_confirm_p99_ms_at_<rate> for every rate (inserted by `ordered`)
    "capacity_confirmed_per_s",
    "server_cpu_ms_per_seated_purchase",
    "oversold",
    "lost",
    "rejected",
    "audit_ok",
    "audit",
    "audits",
    "calibration",
    "peak_rss_mb",
    "environment",
    "config",
)


def ordered(result: dict) -> dict:
    """Top-level figures first in the file, the per-rate ones after the first rate's."""
    keys = list(TOP_LEVEL)
    at = keys.index("paced_confirm_p99_ms") + 1
    keys[at:at] = [k for k in result if k.startswith("paced_confirm_p99_ms_at_")]
    first = {k: result[k] for k in keys if k in result}
    return first | {k: v for k, v in result.items() if k not in first}


def verdict(result: dict) -> list[str]:
    failures = []
    if result["oversold"]:
        failures.append(f"{result['oversold']} seats oversold")
    if result["lost"]:
        failures.append(f"{result['lost']} purchases lost (missing or never final)")
    if result["rejected"]:
        failures.append(f"{result['rejected']} purchase requests were not answered")
    if not result["audit_ok"]:
        broken = [
            f"{phase}: {name}"
            for phase, audit in result["audits"].items()
            for name, ok in audit["checks"].items()
            if not ok
        ]
        failures.append("invariants broken: " + ", ".join(broken))
    failures += calibration_failures(result.get("calibration"))
    return failures


def calibration_failures(calibration: dict | None) -> list[str]:
    if calibration is None:
        return []
    if calibration.get("error"):
        return [f"calibration not measured: {calibration['error']}"]
    failures = []
    if calibration["rejected"]:
        failures.append(f"calibration: {calibration['rejected']} POSTs not accepted")
    if calibration["pending_left"]:
        failures.append(f"calibration: {calibration['pending_left']} purchases never drained")
    return failures


def write_results(run_id: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, default=str) + "\n"
    path = RESULTS / f"{run_id}.json"
    path.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print(f"bench: results in {path.relative_to(ROOT)} and bench/results/latest.json")
    return path


def _close_django() -> None:
    if "django" in sys.modules:
        from django.db import connections

        connections.close_all()


if __name__ == "__main__":
    sys.exit(main())
