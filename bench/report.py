"""Figures of one phase from what the clients saw and what the database recorded.

Client clocks and server timestamps are the same machine's wall clock, so
POST->confirmed is `confirmed_at` (set by the worker) minus the moment the
buyer's POST got its connection: exact, not rounded up to the 1 s poll interval.
"""

import math
from dataclasses import dataclass

from bench.load import SOLD_STATUSES, LoadResult
from bench.pg_costs import markdown_rows as pg_rows
from bench.ratios import RATIOS

TARGETS = {
    "confirmed_per_s": (">=", 300),
    "accepted_per_s": (">=", 800),
    "accept_p99_ms": ("<=", 100),
    "confirm_p99_ms": ("<=", 1000),
}


@dataclass
class PurchaseTimes:
    """A purchase's server-side timestamps (epoch seconds), from the database."""

    status: str
    created_at: float
    confirmed_at: float | None
    final_at: float | None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 1)


def spread(prefix: str, values: list[float]) -> dict:
    return {
        f"{prefix}_p50_ms": percentile(values, 50),
        f"{prefix}_p95_ms": percentile(values, 95),
        f"{prefix}_p99_ms": percentile(values, 99),
        f"{prefix}_max_ms": round(max(values), 1) if values else None,
    }


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def accept_figures(load: LoadResult) -> dict:
    """What the POSTs got: 202s, sold-out answers (409 `sold_out`), the rest rejected."""
    buyers = load.buyers
    accepted = [b for b in buyers if b.http_status == 202 and b.purchase_id]
    sold_out = [b for b in buyers if b.sold_out]
    answered = accepted + sold_out
    first_post = min((b.sent_at for b in buyers if b.sent_at), default=load.started_at)
    last_accept = max((b.accepted_at for b in accepted), default=first_post)
    last_answer = max((b.accepted_at for b in answered), default=first_post)
    errors: dict[str, int] = {}
    for buyer in buyers:
        if buyer.error:
            key = buyer.error.split(":")[0]
            errors[key] = errors.get(key, 0) + 1
    return {
        "buyers": len(buyers),
        "accepted": len(accepted),
        "sold_out_at_accept": len(sold_out),
        "rejected": len(buyers) - len(answered),
        "rejections": errors,
        "accept_window_s": round(last_accept - first_post, 3),
        "accepted_per_s": rate(len(accepted), last_accept - first_post),
        "answered_per_s": rate(len(answered), last_answer - first_post),
        **spread("accept", [b.accept_ms for b in accepted if b.accept_ms is not None]),
        **spread("sold_out_answer", [b.accept_ms for b in sold_out if b.accept_ms is not None]),
        "first_post_at": first_post,
    }


def phase_figures(load: LoadResult, times: dict[str, PurchaseTimes]) -> dict:
    buyers = load.buyers
    accepted = [b for b in buyers if b.http_status == 202 and b.purchase_id]
    answers = accept_figures(load)
    first_post = answers["first_post_at"]
    server = [times[b.purchase_id] for b in accepted if b.purchase_id in times]
    finals = [t.final_at for t in times.values() if t.final_at]
    last_final = max(finals, default=first_post)
    confirmed = [t for t in server if t.confirmed_at]
    confirm_ms = [
        (times[b.purchase_id].confirmed_at - b.sent_at) * 1000
        for b in accepted
        if b.purchase_id in times and times[b.purchase_id].confirmed_at
    ]
    queue_ms = [(t.confirmed_at - t.created_at) * 1000 for t in confirmed]
    # Delivery keeping pace: how long a confirmed purchase waits for its e-mail.
    mailed_ms = [
        (t.final_at - t.confirmed_at) * 1000
        for t in confirmed
        if t.final_at and t.status == "completed"
    ]
    final_ms = [
        (times[b.purchase_id].final_at - b.sent_at) * 1000
        for b in accepted
        if b.purchase_id in times and times[b.purchase_id].final_at
    ]
    seen_sold_ms = [(b.seen_sold_at - b.sent_at) * 1000 for b in accepted if b.seen_sold_at]
    seen_final_ms = [(b.final_at - b.sent_at) * 1000 for b in accepted if b.final_at]
    # What the 202 told each buyer to wait before the first poll, against how
    # long its purchase really took to be final after the 202 (server clock).
    told_wait_ms = [b.first_wait * 1000 for b in accepted]
    real_wait_ms = [
        (times[b.purchase_id].final_at - b.accepted_at) * 1000
        for b in accepted
        if b.purchase_id in times and times[b.purchase_id].final_at
    ]
    last_confirm = max((t.confirmed_at for t in confirmed), default=first_post)
    polls = sum(b.polls for b in buyers)
    poll_window = load.last_poll_at - load.first_poll_at
    window = last_final - first_post
    return {
        **answers,
        "confirmed": len(confirmed),
        "end_to_end_window_s": round(window, 3),
        "sell_through_window_s": round(last_confirm - first_post, 3),
        "confirmed_per_s": rate(len(confirmed), window),
        "finalized_per_s": rate(len(finals), window),
        "sell_through_per_s": rate(len(confirmed), last_confirm - first_post),
        **spread("confirm", confirm_ms),
        **spread("confirm_server", queue_ms),
        **spread("final", final_ms),
        **spread("completed_after_confirmed", mailed_ms),
        **spread("client_seen_sold", seen_sold_ms),
        **spread("client_seen_final", seen_final_ms),
        **spread("retry_after_on_202", told_wait_ms),
        **spread("final_after_202", real_wait_ms),
        "polls": polls,
        "polls_not_modified": sum(b.not_modified for b in buyers),
        "poll_errors": sum(b.poll_errors for b in buyers),
        "polls_per_buyer": round(polls / len(accepted), 2) if accepted else 0,
        "polls_per_s": rate(polls, poll_window),
        **spread("poll", load.poll_ms),
        "client_timed_out": load.timed_out,
        "sold_statuses": sorted(SOLD_STATUSES),
    }


def target_rows(figures: dict, paced: dict | None) -> list[tuple[str, float | None, str, bool]]:
    rows = []
    for name, (op, goal) in TARGETS.items():
        source = paced if name == "confirm_p99_ms" and paced else figures
        value = source.get(name)
        met = value is not None and (value >= goal if op == ">=" else value <= goal)
        label = name + (" (paced)" if source is paced else "")
        rows.append((label, value, f"{op} {goal}", met))
    return rows


def markdown(result: dict) -> str:
    burst = result["burst"]
    paced_by_rate = result.get("paced_by_rate") or {}
    paced = next(iter(paced_by_rate.values()), None)
    env = result["environment"]
    lines = [
        f"### Flash sale: {burst['buyers']} buyers, {result['config']['seats']} seats, "
        f"{result['config']['concurrency']} clients ({env['cpu_count']} CPUs, "
        f"load avg before {env['load_average_before'][0]:.2f})",
        "",
        "| figure | value | target | met |",
        "|---|---:|---:|:---:|",
    ]
    for label, value, goal, met in target_rows(burst, paced):
        lines.append(f"| {label} | {value} | {goal} | {'yes' if met else 'no'} |")
    for name in ("answered_per_s", "sold_out_at_accept", "sell_through_per_s",
                 "server_cpu_ms_per_buyer"):  # fmt: skip
        lines.append(f"| {name} | {result.get(name)} | | |")
    for name in (
        "finalized_per_s",
        "accept_p50_ms",
        "accept_p95_ms",
        "confirm_p50_ms",
        "confirm_p95_ms",
        "confirm_p99_ms",
        "polls_per_s",
        "poll_p99_ms",
    ):
        lines.append(f"| {name} | {burst[name]} | | |")
    lines += _paced_rows(paced_by_rate) + _capacity_rows(result)
    lines += _accept_only_rows(result) + _opening_rows(result) + _audit_rows(result)
    lines += pg_rows(result)  # the capacity model's inputs (docs/capacity.md)
    cpu = burst["cpu"]
    lines.append(
        "| CPU s during burst | "
        + ", ".join(f"{k} {v}" for k, v in cpu["cpu_s_by_kind"].items())
        + f", other {cpu['cpu_s_other']} (machine busy {cpu['machine_busy_pct']} %) | | |"
    )
    rss = ", ".join(f"{k} {v['peak_rss_mb']}" for k, v in result["peak_rss_mb"].items())
    lines.append(f"| peak RSS MB by kind | {rss} | | |")
    if result.get("calibration"):
        lines += ["", *calibration_markdown(result)]
    return "\n".join(lines)


def _paced_rows(paced_by_rate: dict) -> list[str]:
    return [
        f"| paced: {phase['buyers']} buyers at {label}/s, confirm p50/p95/p99 ms "
        f"| {phase['confirm_p50_ms']} / {phase['confirm_p95_ms']} / {phase['confirm_p99_ms']}"
        " | | |"
        for label, phase in paced_by_rate.items()
    ]


def _capacity_rows(result: dict) -> list[str]:
    capacity = result.get("capacity")
    if not capacity:
        return []
    return [
        f"| capacity: {capacity['buyers']} buyers, a seat each: confirmed/s "
        f"| {result['capacity_confirmed_per_s']} | | |",
        f"| capacity: server CPU ms per seated purchase "
        f"| {result['server_cpu_ms_per_seated_purchase']} | | |",
    ]


def _accept_only_rows(result: dict) -> list[str]:
    phase = result.get("accept_only")
    if not phase:
        return []
    return [
        f"| accept only: {phase['buyers']} buyers, worker paused: accepted/s, p99 ms "
        f"| {phase['accepted_per_s']}, {phase['accept_p99_ms']} | | |",
        f"| accept only: status GETs/s in line, server CPU ms per GET "
        f"| {phase['status_per_s']}, {phase['server_cpu_ms_per_status_get']} | | |",
        f"| accept only: drain s (none pending), to every purchase final "
        f"| {phase['drain_s']}, {phase['drain_to_final_s']} | | |",
    ]


def _opening_rows(result: dict) -> list[str]:
    phase = result.get("opening")
    if not phase:
        return []
    return [
        f"| opening: {phase['buyers']} buyers over {phase['arrival_window_s']} s, "
        f"{phase['audit']['seats']} seats: know p50/p99 ms "
        f"| {phase['know_p50_ms']} / {phase['know_p99_ms']} | | |",
        f"| opening: p99 know ms after the last arrival "
        f"| {phase['know_p99_ms_after_last_arrival']} | <= 5000 | "
        f"{_met(phase['know_p99_ms_after_last_arrival'], 5000)} |",
        f"| opening: server CPU ms per buyer, polls per buyer, never knew "
        f"| {phase['server_cpu_ms_per_buyer']}, {phase['polls_per_arriving_buyer']}, "
        f"{phase['never_knew']} | | |",
    ]


def _met(value: float | None, most: float) -> str:
    return "yes" if value is not None and value <= most else "no"


def _audit_rows(result: dict) -> list[str]:
    rows = []
    for name, audit in result["audits"].items():
        rows.append(
            f"| audit {name} | sold {audit['seats_sold']}/{audit['expected_sold']}, "
            f"oversold {audit['oversold']}, lost {audit['lost']}, "
            f"sold out at accept {audit['sold_out_at_accept']}, "
            f"{'all invariants hold' if audit['ok'] else 'FAILED'} | | |"
        )
    return rows


def calibration_markdown(result: dict) -> list[str]:
    """The bare stack's figures beside the project's, measured in the same run."""
    calib = result["calibration"]
    if calib.get("error"):
        return [f"Calibration (bare stack) failed: {calib['error']}"]
    capacity = result.get("capacity_confirmed_per_s")
    seated_cpu = result.get("server_cpu_ms_per_seated_purchase")
    rows = [
        ("accepted_per_s", result["accepted_per_s"], calib["accepted_per_s"]),
        ("accept_p99_ms", result["accept_p99_ms"], calib["accept_p99_ms"]),
        ("status GETs/s (project: polls/s)", result["polls_per_s"], calib["status_per_s"]),
        ("status p99 ms (project: poll p99)", result["burst"]["poll_p99_ms"],
         calib["status_p99_ms"]),
        ("confirmed_per_s (project: capacity phase; bare: worker drain alone)", capacity,
         calib["confirmed_per_s"]),
        ("server_cpu_ms_per_buyer (project: burst)", result["server_cpu_ms_per_buyer"],
         calib["server_cpu_ms_per_buyer"]),
        ("server CPU ms per seated purchase (project: capacity phase)", seated_cpu,
         calib["server_cpu_ms_per_buyer"]),
    ]  # fmt: skip
    rows += [
        ("accept_only_per_s (project: worker paused)", result.get("accept_only_per_s"),
         calib["accepted_per_s"]),
        ("status GETs/s in line (both: worker paused)", result.get("poll_in_line_per_s"),
         calib["status_per_s"]),
        ("server CPU ms per status GET in line", result.get("server_cpu_ms_per_poll_in_line"),
         calib.get("server_cpu_ms_per_status_get")),
    ]  # fmt: skip
    return [
        f"### Calibration: the bare stack, {calib['buyers']} buyers, a seat each, same run",
        "",
        "| figure | project | bare stack (floor) |",
        "|---|---:|---:|",
        *(f"| {name} | {ours} | {floor} |" for name, ours, floor in rows),
        "",
        "| ratio to the bare stack | value |",
        "|---|---:|",
        *(f"| {key} | {result.get(key)} |" for key in RATIOS),
    ]
