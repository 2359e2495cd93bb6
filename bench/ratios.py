"""The project's figures held against the bare stack's, measured in the same run.

A machine that is slow today makes both slow: the ratio is the figure to compare
across runs and machines, and `bare_floor` keeps the bare figures themselves
with every result. Each ratio is ours ÷ the bare stack's, so above 1 is better
for a rate and worse for a cost.
"""

# ratio key: (our figure at the result's top level, the bare stack's in `calibration`)
RATIOS = {
    # Both with the worker idle while the buyers post.
    "accept_only_per_s_ratio_to_bare": ("accept_only_per_s", "accepted_per_s"),
    # The burst: our 202s share the cores with the worker and the mailer.
    "accepted_per_s_ratio_to_bare": ("accepted_per_s", "accepted_per_s"),
    "answered_per_s_ratio_to_bare": ("answered_per_s", "accepted_per_s"),
    # Both include the worker: ours the capacity phase's, the bare stack's its accept,
    # status GET and drain (each of its buyers is seated).
    "server_cpu_ms_per_seated_purchase_ratio_to_bare": (
        "server_cpu_ms_per_seated_purchase",
        "server_cpu_ms_per_buyer",
    ),
    # One status GET per purchase while every purchase waits in line, worker idle.
    "poll_in_line_per_s_ratio_to_bare": ("poll_in_line_per_s", "status_per_s"),
    "server_cpu_ms_per_poll_in_line_ratio_to_bare": (
        "server_cpu_ms_per_poll_in_line",
        "server_cpu_ms_per_status_get",
    ),
}

# The bare stack's figures a ratio divides by, plus its drain: the machine's floor.
FLOOR_KEYS = (
    "accepted_per_s",
    "accept_p99_ms",
    "status_per_s",
    "status_p99_ms",
    "server_cpu_ms_per_buyer",
    "server_cpu_ms_per_status_get",
    "confirmed_per_s",
)


def ratio(ours: float | None, floor: float | None) -> float | None:
    """ours ÷ floor to two places; None when either is missing or the floor is 0."""
    if ours is None or not floor:
        return None
    return round(ours / floor, 2)


def ratios_to_bare(result: dict, calibration: dict | None) -> dict:
    """Every ratio key, None where the bare stack (or our figure) was not measured."""
    measured = calibration if calibration and not calibration.get("error") else {}
    return {
        key: ratio(result.get(ours), measured.get(bare)) for key, (ours, bare) in RATIOS.items()
    }


def bare_floor(calibration: dict | None) -> dict | None:
    if not calibration or calibration.get("error"):
        return None
    return {key: calibration.get(key) for key in FLOOR_KEYS}
