"""Series counted where they happen, shared by every product."""

from prometheus_client import Counter

SWEEP_REFOUND = Counter(
    "tickets_sweep_refound",
    "Rows a sweep found waiting too long and moved on, by sweep.",
    ["sweep"],
)
