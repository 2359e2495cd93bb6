"""PostgreSQL's side of a bench phase, the inputs of docs/capacity.md.

Around each phase (bench/sale.py `run_phase`) this samples:

- the bench database's `pg_stat_database`: transactions (commits, rollbacks)
  and rows inserted / updated / deleted;
- the cluster's WAL: `pg_current_wal_lsn()` (bytes written) and `pg_stat_wal`
  (records, full-page images, writes, syncs). These are the whole server's,
  whoever writes: `cluster_transactions` (all databases) beside ours says how
  much of it another database could have written meanwhile;
- the pipeline worker's `tickets_batch_reserve_hold_seconds` histogram
  (tickets/sale/batch.py), scraped from the worker node's metrics page: how
  many batches locked the ticket row and how long each held it, lock to commit;
- from the database after the phase, the purchases each batch decided: a
  batch stamps every purchase it decides with one `processing_started_at`.

Each phase's JSON gains `pg`: the raw deltas, per seated purchase when every
buyer was seated, per buyer otherwise, and the batches. `add_refusal_costs`
then splits the burst (seated and refused buyers mixed) with the capacity
phase's per-seated figures: the cost of one refused buyer.
"""

import os
import socket
import time
import urllib.request

import psycopg
from prometheus_client.parser import text_string_to_metric_families

HOLD = "tickets_batch_reserve_hold_seconds"
# A backend flushes its counters to pg_stat_database at most once a second
# (PostgreSQL 15): wait that long after the phase so its last commits count.
STATS_FLUSH_SECONDS = 1.2

DATABASE_SQL = """
SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted,
       (SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database),
       pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0'),
       w.wal_records, w.wal_fpi, w.wal_write, w.wal_sync
FROM pg_stat_database, pg_stat_wal w
WHERE datname = current_database()
"""
COUNTERS = (
    "commits",
    "rollbacks",
    "rows_inserted",
    "rows_updated",
    "rows_deleted",
    "cluster_transactions",
    "wal_bytes",
    "wal_records",
    "wal_fpi",
    "wal_writes",
    "wal_syncs",
)
CLUSTER_NOTE = (
    "wal_* are the whole PostgreSQL server's (pg_current_wal_lsn, pg_stat_wal), whoever "
    "wrote them; compare cluster_transactions (all databases) with transactions (ours)"
)


# --- sampling -------------------------------------------------------------------------


def expose_worker_metrics() -> None:
    """Asks the stack's pipeline worker to open its metrics page (the Procfile's
    WORKER_METRICS_PORT, docs/metrics.md) on a free loopback port, unless the
    caller chose one. With several worker nodes only the first to bind serves."""
    if not os.environ.get("WORKER_METRICS_PORT"):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            os.environ["WORKER_METRICS_PORT"] = str(probe.getsockname()[1])


def worker_page_url() -> str | None:
    port = os.environ.get("WORKER_METRICS_PORT")
    return f"http://127.0.0.1:{port}/metrics" if port else None


def sample(database_url: str) -> dict:
    """Counters now; never raises (a blind sampler must not end the run)."""
    taken: dict = {"at": time.time()}
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(DATABASE_SQL).fetchone()
        taken |= {key: int(value) for key, value in zip(COUNTERS, row, strict=True)}
    except psycopg.Error as exc:
        taken["error"] = f"{type(exc).__name__}: {exc}"
    taken["hold"] = scrape_hold(worker_page_url())
    return taken


def sample_after(database_url: str) -> dict:
    time.sleep(STATS_FLUSH_SECONDS)
    return sample(database_url)


def scrape_hold(url: str | None) -> dict | None:
    """The hold histogram's cumulative buckets, count and sum, or None."""
    if not url:
        return None
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    return hold_histogram(text)


def hold_histogram(text: str) -> dict | None:
    buckets: dict[float, float] = {}
    found = {"count": 0.0, "sum": 0.0}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == f"{HOLD}_bucket":
                buckets[float(s.labels["le"])] = s.value
            elif s.name in (f"{HOLD}_count", f"{HOLD}_sum"):
                found[s.name.rsplit("_", 1)[1]] = s.value
    if not buckets:
        return None
    return {**found, "buckets": sorted(buckets.items())}


# --- arithmetic (pure) ----------------------------------------------------------------


def deltas(before: dict, after: dict) -> dict:
    """What the phase added to each counter; `transactions` = commits + rollbacks."""
    moved = {key: after[key] - before[key] for key in COUNTERS if key in before and key in after}
    if "commits" in moved:
        moved["transactions"] = moved["commits"] + moved["rollbacks"]
    return moved


def per(counts: dict, how_many: int) -> dict | None:
    if how_many <= 0:
        return None
    return {key: round(value / how_many, 2) for key, value in counts.items()}


def hold_between(before: dict | None, after: dict | None) -> dict | None:
    """The histogram's growth over the phase: batches timed, seconds held, buckets."""
    if not before or not after:
        return None
    earlier = dict(before["buckets"])
    buckets = [(le, n - earlier.get(le, 0.0)) for le, n in after["buckets"]]
    return {
        "count": after["count"] - before["count"],
        "sum": after["sum"] - before["sum"],
        "buckets": buckets,
    }


def bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """histogram_quantile's estimate: linear within the bucket the rank falls in;
    the highest finite bound when it falls in +Inf."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for le, cumulative in buckets:
        if cumulative >= rank:
            if le == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (le - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = le, cumulative
    return lower


def batch_figures(hold: dict | None, sizes: list[int], window_s: float) -> dict:
    """Batches of a phase: those that decided purchases (from the database), the
    row hold of every batch that locked it (from the worker), and the share of
    the decide window the row was held (1.0: the row is the limit)."""
    decided = sum(sizes)
    ordered = sorted(sizes)
    figures: dict = {
        "deciding_batches": len(sizes),
        "purchases_decided": decided,
        "purchases_per_deciding_batch_mean": round(decided / len(sizes), 1) if sizes else None,
        "purchases_per_deciding_batch_p50": ordered[len(ordered) // 2] if sizes else None,
        "purchases_per_deciding_batch_max": ordered[-1] if sizes else None,
        "decide_window_s": round(window_s, 3),
        "deciding_batches_per_s": round(len(sizes) / window_s, 2) if window_s > 0 else None,
    }
    if not hold or not hold["count"]:
        return figures | {"locking_batches": None, "hold_note": "worker page not read"}
    count = hold["count"]
    return figures | {
        "locking_batches": int(count),
        "locking_batches_per_s": round(count / window_s, 2) if window_s > 0 else None,
        "purchases_per_locking_batch": round(decided / count, 1),
        "hold_ms_mean": round(1000 * hold["sum"] / count, 2),
        "hold_ms_p50": _ms(bucket_quantile(hold["buckets"], 0.5)),
        "hold_ms_p99": _ms(bucket_quantile(hold["buckets"], 0.99)),
        "row_held_share": round(hold["sum"] / window_s, 3) if window_s > 0 else None,
        "hot_row_ceiling_per_s": round(decided / hold["sum"], 1) if hold["sum"] > 0 else None,
    }


def _ms(seconds: float | None) -> float | None:
    return round(1000 * seconds, 2) if seconds is not None else None


def phase_pg(before: dict, after: dict, *, seated: int, buyers: int, batches: dict) -> dict:
    """A phase's `pg`: raw deltas, the per-unit figures it has, its batches."""
    if "error" in before or "error" in after:
        return {"error": before.get("error") or after.get("error"), "batches": batches}
    moved = deltas(before, after)
    everyone_seated = seated == buyers
    return {
        "deltas": moved,
        "per_seated_purchase": per(moved, seated) if everyone_seated else None,
        "per_buyer": per(moved, buyers),
        "seated": seated,
        "refused": buyers - seated,
        "batches": batches,
        "note": CLUSTER_NOTE,
    }


def split_refused(mixed: dict, seated: int, refused: int, per_seated: dict) -> dict | None:
    """Per refused buyer: (the mixed phase's total - seated * per seated) / refused."""
    if refused <= 0:
        return None
    return {
        key: round((value - seated * per_seated[key]) / refused, 2)
        for key, value in mixed.items()
        if key in per_seated
    }


def add_refusal_costs(phases: dict[str, dict]) -> None:
    """The burst's refused buyers priced with the capacity phase's seated ones:
    PostgreSQL counters and CPU seconds by process kind."""
    burst, capacity = phases.get("burst"), phases.get("capacity")
    if not burst or not capacity or "deltas" not in burst.get("pg", {}):
        return
    pg, seated_pg = burst["pg"], capacity.get("pg", {})
    if seated_pg.get("per_seated_purchase"):
        pg["per_refused_buyer"] = split_refused(
            pg["deltas"], pg["seated"], pg["refused"], seated_pg["per_seated_purchase"]
        )
    # In milliseconds: a refused buyer's seconds round to 0.00.
    cpu_ms = {key: 1000 * value for key, value in capacity["cpu"]["cpu_s_by_kind"].items()}
    cpu_per_seated = per(cpu_ms, capacity["audit"]["seats_sold"])
    if cpu_per_seated:
        burst_ms = {key: 1000 * value for key, value in burst["cpu"]["cpu_s_by_kind"].items()}
        pg["cpu_ms_per_refused_buyer_by_kind"] = split_refused(
            burst_ms, pg["seated"], pg["refused"], cpu_per_seated
        )
    pg["refused_note"] = "split with the capacity phase's per-seated figures (same run)"


# --- the database's word on batches -------------------------------------------------


def decided_sizes(ticket_id: int) -> tuple[list[int], float]:
    """Purchases decided per batch (one `processing_started_at` per batch) and
    the decide window: first purchase created → last batch's stamp, seconds."""
    from django.db.models import Count, Max, Min

    from tickets.models import TicketPurchase

    mine = TicketPurchase.objects.filter(ticket_id=ticket_id, processing_started_at__isnull=False)
    sizes = [
        row["n"] for row in mine.values("processing_started_at").annotate(n=Count("id")).order_by()
    ]
    span = TicketPurchase.objects.filter(ticket_id=ticket_id).aggregate(
        first=Min("created_at"), last=Max("processing_started_at")
    )
    if not span["first"] or not span["last"]:
        return sizes, 0.0
    return sizes, max(0.0, (span["last"] - span["first"]).total_seconds())


def phase_costs(before: dict, after: dict, *, ticket_id: int, seated: int, buyers: int) -> dict:
    sizes, window = decided_sizes(ticket_id)
    hold = hold_between(before.get("hold"), after.get("hold"))
    batches = batch_figures(hold, sizes, window)
    return phase_pg(before, after, seated=seated, buyers=buyers, batches=batches)


# --- the printed table ---------------------------------------------------------------


def markdown_rows(result: dict) -> list[str]:
    """A row per phase for bench/report.py's table: PostgreSQL per seated
    purchase (or per buyer), and the batches' hold of the ticket row."""
    phases = {"burst": result.get("burst"), "capacity": result.get("capacity")}
    phases |= {f"paced {k}/s": v for k, v in (result.get("paced_by_rate") or {}).items()}
    rows = []
    for name, phase in phases.items():
        pg = (phase or {}).get("pg")
        if not pg or "deltas" not in pg:
            continue
        unit, costs = (
            ("seated", pg["per_seated_purchase"])
            if pg["per_seated_purchase"]
            else ("buyer", pg["per_buyer"])
        )
        b = pg["batches"]
        rows.append(
            f"| pg {name}: txn, WAL B, fsyncs per {unit}; batches, purchases/batch, "
            f"hold p50/p99 ms, row held share | {costs['transactions']}, {costs['wal_bytes']}, "
            f"{costs['wal_syncs']}; {b.get('locking_batches')}, "
            f"{b.get('purchases_per_locking_batch')}, {b.get('hold_ms_p50')}/"
            f"{b.get('hold_ms_p99')}, {b.get('row_held_share')} | | |"
        )
    return rows
