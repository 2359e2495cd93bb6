"""`python -m bench.poll_cost`: what one waiting-room poll costs as the line grows.

A waiting purchase's status poll answers its `queue_position` and
`estimated_wait_seconds` (tickets/sale/waiting_room.py). They must cost the same with 100
or 10,000 purchases ahead: a number taken at accept and the pipeline's decided
mark, never a COUNT over the queue. This fills one ticket's line through the
API (no worker runs, so nothing is decided) to each depth in
BENCH_POLL_DEPTHS (default 100,1000,10000) and measures, in this process, the
polls of the last BENCH_POLL_CALLS (default 200) purchases in line: CPU per
poll, SQL statements and Redis round trips (bench/hot_path.measure).
"""

import json
import os
import sys

from bench.hot_path import OUT, RedisCounter, buy, in_bench_stack, measure
from bench.stack import ROOT


def main() -> int:
    depths = [int(d) for d in (os.environ.get("BENCH_POLL_DEPTHS") or "100,1000,10000").split(",")]
    calls = int(os.environ.get("BENCH_POLL_CALLS") or 200)
    return in_bench_stack("poll-cost", lambda: run(sorted(depths), calls))


def run(depths: list[int], calls: int) -> int:
    from django.test import Client

    from bench.sale import create_ticket
    from workers.celery import app

    ticket_id = create_ticket("Poll cost", depths[-1] + 1)
    client = Client()
    ids: list[str] = []

    positions: list[int] = []

    def poll(purchase_id: str) -> None:
        response = client.get(f"/api/tickets/purchase/{purchase_id}/status/")
        assert response.status_code == 200, response.status_code
        positions.append(response.json()["queue_position"])

    redis_counter = RedisCounter()
    rows = {}
    try:
        for depth in depths:
            while len(ids) < depth:
                ids.append(buy(client, ticket_id, len(ids)))
            positions.clear()
            poll(ids[-1])  # warm
            positions.clear()
            stage = measure(f"poll_at_{depth}", poll, ids[-calls:], redis_counter=redis_counter)
            stage["queue_positions_seen"] = [min(positions), max(positions)]
            rows[depth] = stage
    finally:
        app.control.purge()  # the doorbells rung at accept: no worker will answer them
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "poll_cost.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("| purchases in line | positions polled | CPU ms/poll | wall ms/poll "
          "| SQL statements | Redis round trips |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|")
    for depth, stage in rows.items():
        low, high = stage["queue_positions_seen"]
        print(
            f"| {depth} | {low} to {high} | {stage['cpu_ms_per_call']} | "
            f"{stage['wall_ms_per_call']} | {stage['sql_statements_per_call']} | "
            f"{stage['redis_round_trips_per_call']} |"
        )
    print(f"\nfull report: {(OUT / 'poll_cost.json').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
