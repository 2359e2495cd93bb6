"""The bench's own arithmetic: the ratios to the bare stack and the opening's
time to know, which the issue's targets are read from."""

from bench.load import Buyer, LoadResult
from bench.opening import opening_figures
from bench.ratios import RATIOS, bare_floor, ratios_to_bare

CALIBRATION = {
    "accepted_per_s": 400.0,
    "status_per_s": 1000.0,
    "server_cpu_ms_per_buyer": 10.0,
    "server_cpu_ms_per_status_get": 2.0,
    "accept_p99_ms": 300.0,
    "status_p99_ms": 90.0,
    "confirmed_per_s": 250.0,
}
OURS = {
    "accept_only_per_s": 500.0,
    "accepted_per_s": 100.0,
    "answered_per_s": 300.0,
    "server_cpu_ms_per_seated_purchase": 4.0,
    "poll_in_line_per_s": 1500.0,
    "server_cpu_ms_per_poll_in_line": 1.0,
}


def test_each_ratio_is_ours_over_the_bare_stacks_same_run_figure():
    assert ratios_to_bare(OURS, CALIBRATION) == {
        "accept_only_per_s_ratio_to_bare": 1.25,
        "accepted_per_s_ratio_to_bare": 0.25,
        "answered_per_s_ratio_to_bare": 0.75,
        "server_cpu_ms_per_seated_purchase_ratio_to_bare": 0.4,
        "poll_in_line_per_s_ratio_to_bare": 1.5,
        "server_cpu_ms_per_poll_in_line_ratio_to_bare": 0.5,
    }


def test_without_a_measured_bare_stack_every_ratio_key_is_there_and_none():
    for calibration in (None, {"error": "RuntimeError: no app.py", **CALIBRATION}):
        assert ratios_to_bare(OURS, calibration) == dict.fromkeys(RATIOS)
        assert bare_floor(calibration) is None


def test_a_phase_that_did_not_run_or_a_zero_floor_gives_no_ratio():
    ratios = ratios_to_bare(
        {**OURS, "accept_only_per_s": None}, {**CALIBRATION, "status_per_s": 0.0}
    )
    assert ratios["accept_only_per_s_ratio_to_bare"] is None
    assert ratios["poll_in_line_per_s_ratio_to_bare"] is None
    assert ratios["accepted_per_s_ratio_to_bare"] == 0.25


def test_the_run_keeps_the_bare_figures_it_divided_by():
    floor = bare_floor(CALIBRATION)
    assert floor["accepted_per_s"] == 400.0
    assert floor["server_cpu_ms_per_status_get"] == 2.0


def buyer(index, arrived, *, sold_out_at=None, final_at=None, seated_at=None, polls=0):
    return Buyer(
        index=index,
        email=f"b{index}@example.com",
        arrived_at=arrived,
        sent_at=arrived,
        accepted_at=sold_out_at or arrived + 0.1,
        sold_out=sold_out_at is not None,
        final_at=final_at,
        seen_sold_at=seated_at,
        polls=polls,
    )


def test_opening_times_each_buyer_from_its_arrival_and_the_last_from_the_last_arrival():
    load = LoadResult(
        [
            buyer(0, 100.0, final_at=103.0, seated_at=101.0, polls=3),  # 3 s to know
            buyer(1, 101.0, sold_out_at=101.5),  # a 409 sold_out is knowing
            buyer(2, 102.0, final_at=110.0, polls=5),  # knew 8 s after the last arrival
        ]
    )
    figures = opening_figures(load)
    assert figures["arrival_window_s"] == 2.0
    assert figures["knew"] == 3
    assert figures["never_knew"] == 0
    assert figures["know_p50_ms"] == 3000.0
    assert figures["know_max_ms"] == 8000.0
    assert figures["know_p50_ms_after_last_arrival"] == 1000.0
    assert figures["know_p99_ms_after_last_arrival"] == 8000.0
    # The seat was seen at confirmed, before the final status.
    assert figures["decided_p50_ms"] == 1000.0
    assert figures["polls_per_arriving_buyer"] == round(8 / 3, 2)


def test_a_buyer_who_never_saw_a_final_status_never_knew():
    load = LoadResult(
        [buyer(0, 100.0, final_at=101.0), buyer(1, 100.5, seated_at=101.0), Buyer(2, "x@e.com")]
    )
    figures = opening_figures(load)
    assert figures["knew"] == 1
    assert figures["never_knew"] == 2
