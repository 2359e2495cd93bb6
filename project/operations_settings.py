"""Settings for running the service: the metrics pages (docs/metrics.md).

Kept apart from project/settings.py, which reads them with one call, so the
operator's knobs sit together."""

import os

import environ


def operations_settings(env: environ.Env, *, hold_seconds: int, sweep_seconds: int) -> dict:
    # prometheus-client opens its files there as each series is defined, which
    # may be before anything else runs: the directory must exist by then.
    multiprocess_dir = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
    if multiprocess_dir:
        os.makedirs(multiprocess_dir, exist_ok=True)
    return {
        # The web /metrics page answers only `Authorization: Bearer <token>`;
        # without a token it is off (404), except in DEBUG to a loopback client.
        "METRICS_TOKEN": env.str("METRICS_TOKEN", default=""),
        # A worker node opens its page on this port (none when unset), on METRICS_BIND.
        "WORKER_METRICS_PORT": env.int("WORKER_METRICS_PORT", default=0),
        "METRICS_BIND": env.str("METRICS_BIND", default="127.0.0.1"),
        # A purchase not final and untouched this long is stuck: the sweeps should
        # have moved it (tickets_purchases_stuck, the TicketPurchaseStuck alert).
        # By default: past its hold, and two sweeps more.
        "STUCK_PURCHASE_SECONDS": env.int(
            "STUCK_PURCHASE_SECONDS", default=hold_seconds + 2 * sweep_seconds
        ),
    }
