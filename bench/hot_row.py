"""One hot row against the same seats split into K rows: PostgreSQL alone.

`python -m bench.hot_row` (docs/capacity.md): on a scratch database of its own
(`caprow_hot_row`, created and dropped; HOT_ROW_DATABASE_URL names the server's
maintenance database to create it from), N client processes each run the
shape of the product's reserve transaction (tickets/sale/batch.py) as fast as
they can for a few seconds:

    BEGIN
    UPDATE part SET available = available - b WHERE id = $1 AND available >= b
        -- the row lock is taken here
    INSERT b purchase rows (one multi-row INSERT)   -- the batch's own writes
    INSERT b audit rows (one multi-row INSERT)
    COMMIT                                          -- the row is free again

With K rows the seats are split evenly; each transaction starts at a random row
and falls through to the next one when a row has too few seats left. It prints
a Markdown table (transactions/s, seats/s, latency, how long the row lock is
held) and writes JSON to bench/results/hot_row-<timestamp>.json. No product
code runs: this measures an idea (several rows per ticket), not the product.
"""

import argparse
import json
import multiprocessing
import os
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import pg_costs
from bench.report import percentile

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SCRATCH = "caprow_hot_row"
SCHEMA = """
DROP TABLE IF EXISTS part, purchase, event;
CREATE TABLE part (id int PRIMARY KEY, available bigint NOT NULL CHECK (available >= 0));
CREATE TABLE purchase (id bigserial PRIMARY KEY, part int NOT NULL, status text NOT NULL,
                       quantity int NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE event (id bigserial PRIMARY KEY, purchase_id bigint NOT NULL, action text NOT NULL,
                    at timestamptz NOT NULL DEFAULT now());
"""
TAKE = "UPDATE part SET available = available - %s WHERE id = %s AND available >= %s RETURNING id"
# The batch's writes, one statement each, as the product's bulk UPDATE and INSERT.
PURCHASES = (
    "INSERT INTO purchase (part, status, quantity)"
    " SELECT %s, 'seated', 1 FROM generate_series(1, %s) RETURNING id"
)
EVENTS = "INSERT INTO event (purchase_id, action) SELECT unnest(%s::bigint[]), 'seats reserved'"


def server_url(database: str) -> str:
    base = os.environ.get("HOT_ROW_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    return base.rsplit("/", 1)[0] + "/" + database


def create_scratch() -> str:
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        conn.execute(f"CREATE DATABASE {SCRATCH}")
    return server_url(SCRATCH)


def drop_scratch() -> None:
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)")


def reset(url: str, rows: int, seats: int) -> None:
    """Fresh tables, the seats split evenly over `rows` rows; VACUUM so each
    configuration starts from the same empty heap."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
        share = seats // rows
        conn.execute("INSERT INTO part SELECT g, %s FROM generate_series(1, %s) g", (share, rows))
        conn.execute("VACUUM ANALYZE part")
        conn.execute("CHECKPOINT")  # full-page images: every configuration pays them alike


def take_from(cur, rows: int, batch: int) -> tuple[int | None, int]:
    """Seats from a random row first, then the next ones: (row, rows tried)."""
    start = random.randrange(rows)
    for step in range(rows):
        part = (start + step) % rows + 1
        if cur.execute(TAKE, (batch, part, batch)).fetchone():
            return part, step + 1
    return None, rows


def client(url: str, rows: int, batch: int, start_at: float, stop_at: float, out) -> None:
    """One connection: reserve transactions back to back until `stop_at` or no seat."""
    latencies, holds, waits, fell = [], [], [], 0
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        time.sleep(max(0.0, start_at - time.time()))
        while time.time() < stop_at:
            began = time.perf_counter()
            part, tried = take_from(cur, rows, batch)
            locked = time.perf_counter()
            if part is None:
                conn.rollback()
                break
            ids = [row[0] for row in cur.execute(PURCHASES, (part, batch)).fetchall()]
            cur.execute(EVENTS, (ids,))
            conn.commit()
            done = time.perf_counter()
            latencies.append(done - began)
            holds.append(done - locked)
            waits.append(locked - began)
            fell += tried - 1
    out.put({"latencies": latencies, "holds": holds, "waits": waits, "fell_through": fell})


def run_config(url: str, *, clients: int, rows: int, batch: int, seconds: float,
               seats: int) -> dict:  # fmt: skip
    reset(url, rows, seats)
    before = pg_costs.sample(url)
    out = multiprocessing.get_context("fork").Queue()
    start_at = time.time() + 0.5  # every client connected before the clock starts
    procs = [
        multiprocessing.get_context("fork").Process(
            target=client, args=(url, rows, batch, start_at, start_at + seconds, out)
        )
        for _ in range(clients)
    ]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = time.time() - start_at
    after = pg_costs.sample(url)
    counters = pg_costs.deltas(before, after)
    return figures(results, clients=clients, rows=rows, batch=batch, elapsed=elapsed,
                   counters=counters, sold=books(url, rows, seats))  # fmt: skip


def books(url: str, rows: int, seats: int) -> dict:
    """The books: seats taken from the rows, purchase rows written (equal when
    `seats_sold_by_clients`, the clients' own count, is too)."""
    with psycopg.connect(url) as conn:
        left = conn.execute("SELECT sum(available) FROM part").fetchone()[0]
        written = conn.execute("SELECT coalesce(sum(quantity), 0) FROM purchase").fetchone()[0]
    return {"seats_taken": (seats // rows) * rows - int(left), "purchase_seats": int(written)}


def figures(results: list[dict], *, clients: int, rows: int, batch: int, elapsed: float,
            counters: dict, sold: dict) -> dict:  # fmt: skip
    """One configuration's line: throughput, latency, the row hold, PG's counters."""
    latencies = [x for r in results for x in r["latencies"]]
    holds = [x for r in results for x in r["holds"]]
    waits = [x for r in results for x in r["waits"]]
    count = len(latencies)
    ms = [1000 * x for x in latencies]
    hold_ms = [1000 * x for x in holds]
    wait_ms = [1000 * x for x in waits]
    held = sum(holds)
    return {
        "clients": clients,
        "rows": rows,
        "batch": batch,
        "seconds": round(elapsed, 2),
        "transactions": count,
        "transactions_per_s": round(count / elapsed, 1),
        "seats_per_s": round(count * batch / elapsed, 1),
        "latency_p50_ms": percentile(ms, 50),
        "latency_p99_ms": percentile(ms, 99),
        "lock_wait_p50_ms": percentile(wait_ms, 50),
        "lock_wait_p99_ms": percentile(wait_ms, 99),
        "hold_mean_ms": round(1000 * held / count, 3) if count else None,
        "hold_p50_ms": percentile(hold_ms, 50),
        "hold_p99_ms": percentile(hold_ms, 99),
        # Share of the run each row was held on average: near 1, the rows are the limit.
        "row_busy": round(held / (elapsed * rows), 3),
        "fell_through": sum(r["fell_through"] for r in results),
        "books": sold | {"seats_sold_by_clients": count * batch},
        "pg": counters,
        "pg_per_transaction": pg_costs.per(counters, count),
    }


def markdown(lines: list[dict]) -> str:
    head = (
        "| clients | rows | seats/txn | txn/s | seats/s | p50 ms | p99 ms "
        "| lock wait p99 ms | hold p50 ms | hold p99 ms | row busy | WAL B/txn | fsyncs/txn |"
    )
    out = [head, "|" + "---:|" * 13]
    for f in lines:
        per_txn = f["pg_per_transaction"] or {}
        out.append(
            f"| {f['clients']} | {f['rows']} | {f['batch']} | {f['transactions_per_s']} "
            f"| {f['seats_per_s']} | {f['latency_p50_ms']} | {f['latency_p99_ms']} "
            f"| {f['lock_wait_p99_ms']} | {f['hold_p50_ms']} | {f['hold_p99_ms']} "
            f"| {f['row_busy']} | {per_txn.get('wal_bytes')} | {per_txn.get('wal_syncs')} |"
        )
    return "\n".join(out)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ints = lambda text: [int(x) for x in text.split(",")]  # noqa: E731
    parser.add_argument("--clients", type=ints, default=[2, 8, 32])
    parser.add_argument("--rows", type=ints, default=[1, 4, 16])
    parser.add_argument("--batch", type=ints, default=[1, 100], help="seats per transaction")
    parser.add_argument("--seconds", type=float, default=4.0, help="per configuration")
    parser.add_argument("--seats", type=int, default=10**12, help="in all, split over the rows")
    parser.add_argument("--no-write", action="store_true", help="no JSON file")
    return parser.parse_args()


def main() -> int:
    args = arguments()
    url = create_scratch()
    lines = []
    try:
        for batch in args.batch:
            for clients in args.clients:
                for rows in args.rows:
                    line = run_config(url, clients=clients, rows=rows, batch=batch,
                                      seconds=args.seconds, seats=args.seats)  # fmt: skip
                    print(
                        f"hot_row: {clients} clients, {rows} row(s), {batch} seat(s)/txn: "
                        f"{line['transactions_per_s']} txn/s, hold p50 {line['hold_p50_ms']} ms",
                        flush=True,
                    )
                    lines.append(line)
        with psycopg.connect(url) as conn:
            settings = dict(
                conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit',"
                    " 'fsync', 'wal_level', 'commit_delay', 'max_connections', 'server_version')"
                ).fetchall()
            )
    finally:
        drop_scratch()
    print()
    print(markdown(lines))
    result = {"run_at": datetime.now(UTC).isoformat(timespec="seconds"), "postgres": settings,
              "args": vars(args), "configurations": lines}  # fmt: skip
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"hot_row-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nhot_row: results in {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
