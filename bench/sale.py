"""One sale of the bench, start to audit: a fresh ticket, the load, the figures.

The helpers every phase shares (bench/flash_sale.py runs the burst, paced and
capacity phases with `run_phase`; bench/accept_only.py and bench/opening.py
build on the same pieces).
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from bench import pg_costs
from bench.config import Config
from bench.load import LoadGenerator, LoadResult
from bench.monitor import Monitor, cpu_between, cpu_ms_per
from bench.pyspy import Profiler
from bench.report import phase_figures
from bench.stack import Stack


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


def accepted_ids(load: LoadResult) -> set[str]:
    return {b.purchase_id for b in load.buyers if b.purchase_id}


def audit_sale(ticket_id: int, load: LoadResult, payments_before: int) -> dict:
    """The database's word on one sale (bench/audit.py)."""
    from bench.audit import audit

    return audit(
        ticket_id=ticket_id,
        accepted_ids=accepted_ids(load),
        payments_before=payments_before,
        sold_out_emails={b.email for b in load.buyers if b.sold_out},
    )


def run_phase(stack: Stack, monitor: Monitor, config: Config, *, name: str, seats: int,
              buyers: int, rate: float, payments_before: int,
              profiler: "Profiler | None" = None,
              extra: Callable[[LoadResult], dict] | None = None) -> dict:  # fmt: skip
    """One sale: a fresh ticket, the load, then the figures and the audit of it
    (`extra` adds a phase's own figures from what its buyers saw)."""
    from bench.audit import purchase_times

    ticket_id = create_ticket(f"{name} {stack.logdir.name}", seats)
    if profiler:
        profiler.start()
    db_before, redis_before = database_counters(stack.database_url), redis_commands(stack.redis_url)
    pg_before = pg_costs.sample(stack.database_url)
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
    pg_after = pg_costs.sample_after(stack.database_url)
    figures = phase_figures(load, purchase_times(ticket_id))
    if extra:
        figures.update(extra(load))
    if profiler:
        figures["profile"] = profiler.stop()
    per_purchase = max(1, len(accepted_ids(load)))
    figures["backend_work"] = {
        **{
            f"{key}_per_purchase": round((db_after[key] - db_before[key]) / per_purchase, 2)
            for key in db_after
        },
        "redis_commands_per_purchase": round((redis_after - redis_before) / per_purchase, 2),
        "note": "counters of the bench database; Redis counts the whole (shared) server",
    }
    figures["cpu"] = cpu_between(snap_before, snap_after)
    figures["audit"] = audit_sale(ticket_id, load, payments_before)
    figures["pg"] = pg_costs.phase_costs(
        pg_before, pg_after, ticket_id=ticket_id, seated=figures["audit"]["seats_sold"],
        buyers=buyers,
    )  # fmt: skip
    figures["server_cpu_ms_per_buyer"] = cpu_ms_per(figures["cpu"], buyers)
    figures["server_cpu_ms_per_seated_purchase"] = cpu_ms_per(
        figures["cpu"], figures["audit"]["seats_sold"]
    )
    return figures
