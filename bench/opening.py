"""A sale that opens: buyers arriving over seconds for fewer seats, polling as a
storefront does, and how long until each knows where it stands.

`BENCH_OPENING_BUYERS` (3000) arrive evenly over `BENCH_OPENING_SECONDS` (10)
for `BENCH_OPENING_SEATS` (1000) seats. Each posts once, then polls its
`Location` no sooner than the 202's `Retry-After`, sleeping what each answer's
`Retry-After` says (bench/load.py), until a final status; a 409 `sold_out` at
the POST is knowing too. Times are the buyer's own: from the moment it wanted
to post (its arrival, before it had one of the C connections) until the answer
that told it, so the client's queueing and the `Retry-After` it was told to
sleep are in them, as for a person at a browser.
"""

from bench.config import Config
from bench.load import Buyer, LoadResult
from bench.monitor import Monitor
from bench.report import percentile, spread
from bench.sale import run_phase
from bench.stack import Stack


def decided_at(buyer: Buyer) -> float | None:
    """When the buyer first saw a seat (confirmed) or an end, whichever came first."""
    if buyer.sold_out:
        return buyer.accepted_at
    seen = [t for t in (buyer.seen_sold_at, buyer.final_at) if t]
    return min(seen, default=None)


def opening_figures(load: LoadResult) -> dict:
    """From what the buyers saw: time to know (from each arrival, and after the
    last arrival), the buyers who never knew, polls per arriving buyer."""
    buyers = [b for b in load.buyers if b.arrived_at]
    last_arrival = max((b.arrived_at for b in buyers), default=0.0)
    first_arrival = min((b.arrived_at for b in buyers), default=0.0)
    knew = [b for b in buyers if b.known_at]
    decided = [(b, decided_at(b)) for b in buyers if decided_at(b)]
    return {
        "arrival_window_s": round(last_arrival - first_arrival, 3),
        "knew": len(knew),
        "never_knew": len(load.buyers) - len(knew),
        **spread("know", [(b.known_at - b.arrived_at) * 1000 for b in knew]),
        "know_p50_ms_after_last_arrival": _after(knew, last_arrival, 50),
        "know_p99_ms_after_last_arrival": _after(knew, last_arrival, 99),
        "know_max_ms_after_last_arrival": _after(knew, last_arrival, 100),
        **spread("decided", [(at - b.arrived_at) * 1000 for b, at in decided]),
        "decided_p99_ms_after_last_arrival": percentile(
            [(at - last_arrival) * 1000 for _, at in decided], 99
        ),
        "polls_per_arriving_buyer": (
            round(sum(b.polls for b in load.buyers) / len(load.buyers), 2) if load.buyers else 0
        ),
    }


def _after(knew: list[Buyer], last_arrival: float, q: float) -> float | None:
    """The q-th percentile of the moments buyers knew, counted from the last arrival
    (negative: before the last buyer arrived)."""
    return percentile([(b.known_at - last_arrival) * 1000 for b in knew], q)


def run_opening(stack: Stack, monitor: Monitor, config: Config, payments_before: int) -> dict:
    return run_phase(
        stack, monitor, config, name="Opening sale", seats=config.opening_seats,
        buyers=config.opening_buyers, rate=config.opening_buyers / config.opening_seconds,
        payments_before=payments_before, extra=opening_figures,
    )  # fmt: skip
