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
   Then accept only (with BENCH_CALIBRATE or BENCH_ACCEPT_ONLY_BUYERS,
   bench/accept_only.py: the worker paused while the buyers post, then
   draining) and, with BENCH_OPENING=1, the opening (BENCH_OPENING_BUYERS over
   BENCH_OPENING_SECONDS, bench/opening.py).
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
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import psutil
import psycopg

from bench.accept_only import run_accept_only
from bench.calibration import run_calibration
from bench.config import Config, rate_label
from bench.monitor import Monitor, postgres_backends, postmaster_of
from bench.opening import run_opening
from bench.pg_costs import add_refusal_costs, expose_worker_metrics
from bench.pyspy import Profiler
from bench.ratios import RATIOS, bare_floor, ratios_to_bare
from bench.report import markdown
from bench.sale import run_phase
from bench.stack import ROOT, Stack
from bench.verdict import verdict

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
    add_refusal_costs(phases)  # the burst's refused buyers, priced with the capacity's seated
    return phases | more_phases(stack, monitor, config, payments_before)


def more_phases(stack: Stack, monitor: Monitor, config: Config,
                payments_before: int) -> dict[str, dict]:  # fmt: skip
    """Accept only (the worker paused, then draining) and the opening, when asked for."""
    phases = {}
    if config.accept_only_buyers > 0:
        phases["accept_only"] = phase = run_accept_only(
            stack, monitor, config, buyers=config.accept_only_buyers,
            payments_before=payments_before,
        )  # fmt: skip
        print(
            f"bench: accept only: {phase['accepted_per_s']} accepted/s with the worker paused, "
            f"{phase['status_per_s']} status GETs/s in line, drained in {phase['drain_s']} s "
            f"({phase['decided_before_drain']} decided before the drain)",
            flush=True,
        )
    if config.opening and config.opening_buyers > 0:
        phases["opening"] = phase = run_opening(stack, monitor, config, payments_before)
        print(
            f"bench: opening: {phase['buyers']} buyers over {phase['arrival_window_s']} s, "
            f"know p50/p99 {phase['know_p50_ms']}/{phase['know_p99_ms']} ms, p99 "
            f"{phase['know_p99_ms_after_last_arrival']} ms after the last arrival",
            flush=True,
        )
    return phases


# Top-level figures read from a phase: {phase: {top-level key: the phase's key}};
# None when the phase did not run.
PHASE_KEYS = {
    "accept_only": {
        "accept_only_per_s": "accepted_per_s",
        "accept_only_drain_s": "drain_s",
        "poll_in_line_per_s": "status_per_s",
        "server_cpu_ms_per_poll_in_line": "server_cpu_ms_per_status_get",
    },
    "opening": {
        "opening_know_p50_ms": "know_p50_ms",
        "opening_know_p99_ms": "know_p99_ms",
        "opening_know_p99_ms_after_last_arrival": "know_p99_ms_after_last_arrival",
        "opening_server_cpu_ms_per_buyer": "server_cpu_ms_per_buyer",
        "opening_polls_per_buyer": "polls_per_arriving_buyer",
    },
}


def phase_keys(phases: dict[str, dict]) -> dict:
    return {
        key: phases[phase][source] if phase in phases else None
        for phase, keys in PHASE_KEYS.items()
        for key, source in keys.items()
    }


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
        **phase_keys(phases),
        "audit": burst["audit"],
        "oversold": sum(a["oversold"] for a in audits.values()),
        "lost": sum(a["lost"] for a in audits.values()),
        "rejected": sum(phases[name]["rejected"] for name in phases),
        "audit_ok": all(a["ok"] for a in audits.values()),
        "audits": audits,
        "burst": burst,
        "paced_by_rate": paced,
        **({"capacity": capacity} if capacity else {}),
        **{name: phases[name] for name in PHASE_KEYS if name in phases},
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
        expose_worker_metrics()  # the batches' row hold, read by bench/pg_costs.py
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
        result |= ratios_to_bare(result, result.get("calibration"))
        result["bare_floor"] = bare_floor(result.get("calibration"))
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
    *PHASE_KEYS["accept_only"],
    *PHASE_KEYS["opening"],
    *RATIOS,
    "bare_floor",
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
