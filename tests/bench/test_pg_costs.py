"""The capacity model's inputs from PostgreSQL counters and the batches' row
hold (bench/pg_costs.py): per seated purchase, per refused buyer, per batch."""

import pytest

from bench.pg_costs import (
    add_refusal_costs,
    batch_figures,
    bucket_quantile,
    hold_between,
    hold_histogram,
    phase_pg,
)

INF = float("inf")


def counters(commits, wal_bytes, rows_inserted=0):
    return {
        "commits": commits,
        "rollbacks": 0,
        "rows_inserted": rows_inserted,
        "rows_updated": 0,
        "rows_deleted": 0,
        "cluster_transactions": commits,
        "wal_bytes": wal_bytes,
        "wal_records": 0,
        "wal_fpi": 0,
        "wal_writes": 0,
        "wal_syncs": 0,
    }


def test_a_phase_where_everyone_is_seated_is_priced_per_seated_purchase():
    pg = phase_pg(counters(100, 1000), counters(400, 61000), seated=100, buyers=100, batches={})
    assert pg["deltas"]["transactions"] == 300
    assert pg["per_seated_purchase"]["transactions"] == 3.0
    assert pg["per_seated_purchase"]["wal_bytes"] == 600.0
    assert pg["refused"] == 0


def test_a_mixed_phase_has_no_per_seated_figure_but_a_per_buyer_one():
    pg = phase_pg(counters(0, 0), counters(500, 0), seated=100, buyers=400, batches={})
    assert pg["per_seated_purchase"] is None
    assert pg["per_buyer"]["transactions"] == 1.25
    assert pg["refused"] == 300


def test_a_refused_buyer_costs_what_the_burst_spent_beyond_its_seated_buyers():
    burst = {
        "pg": phase_pg(counters(0, 0), counters(500, 80_000), seated=100, buyers=400, batches={}),
        "cpu": {"cpu_s_by_kind": {"web": 4.0, "worker": 1.0}},
    }
    capacity = {
        "pg": {"per_seated_purchase": {"transactions": 2.0, "wal_bytes": 500.0}},
        "cpu": {"cpu_s_by_kind": {"web": 2.0, "worker": 2.0}},
        "audit": {"seats_sold": 200},
    }
    add_refusal_costs({"burst": burst, "capacity": capacity})
    refused = burst["pg"]["per_refused_buyer"]
    assert refused["transactions"] == 1.0  # (500 - 100 * 2) / 300
    assert refused["wal_bytes"] == 100.0  # (80000 - 100 * 500) / 300
    by_kind = burst["pg"]["cpu_ms_per_refused_buyer_by_kind"]
    assert by_kind == {"web": 10.0, "worker": 0.0}  # (4000 - 100 * 10) / 300, (1000 - 1000) / 300


def test_the_quantile_is_interpolated_inside_its_bucket_as_prometheus_does():
    buckets = [(0.01, 50.0), (0.02, 100.0), (INF, 100.0)]
    assert bucket_quantile(buckets, 0.5) == pytest.approx(0.01)
    assert bucket_quantile(buckets, 0.75) == pytest.approx(0.015)
    assert bucket_quantile([(0.01, 0.0), (INF, 4.0)], 0.5) == 0.01  # in +Inf: the last bound
    assert bucket_quantile([(0.01, 0.0), (INF, 0.0)], 0.5) is None


PAGE = """# TYPE tickets_batch_reserve_hold_seconds histogram
tickets_batch_reserve_hold_seconds_bucket{le="0.01"} 3.0
tickets_batch_reserve_hold_seconds_bucket{le="0.1"} 4.0
tickets_batch_reserve_hold_seconds_bucket{le="+Inf"} 4.0
tickets_batch_reserve_hold_seconds_count 4.0
tickets_batch_reserve_hold_seconds_sum 0.08
"""


def test_the_row_hold_of_a_phase_is_the_histograms_growth():
    before = hold_histogram(PAGE)
    after = hold_histogram(PAGE.replace(" 4.0", " 6.0").replace("0.08", "0.28"))
    hold = hold_between(before, after)
    assert hold["count"] == 2
    assert hold["sum"] == pytest.approx(0.2)
    assert hold["buckets"] == [(0.01, 0.0), (0.1, 2.0), (INF, 2.0)]
    assert hold_histogram("# nothing here\n") is None


def test_batches_give_purchases_per_batch_and_the_rows_ceiling():
    hold = {"count": 4, "sum": 0.2, "buckets": [(0.05, 4.0), (INF, 4.0)]}
    figures = batch_figures(hold, [100, 100, 50], window_s=2.0)
    assert figures["deciding_batches"] == 3
    assert figures["purchases_per_deciding_batch_mean"] == 83.3
    assert figures["purchases_per_locking_batch"] == 62.5  # 250 decided / 4 locks
    assert figures["hold_ms_mean"] == 50.0
    assert figures["row_held_share"] == 0.1  # 0.2 s held in a 2 s window
    assert figures["hot_row_ceiling_per_s"] == 1250.0  # 250 purchases / 0.2 s held


def test_without_the_workers_page_the_batches_still_come_from_the_database():
    figures = batch_figures(None, [10, 20], window_s=1.0)
    assert figures["deciding_batches_per_s"] == 2.0
    assert figures["locking_batches"] is None
