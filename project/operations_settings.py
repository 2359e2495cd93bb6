"""Settings for running the service: the metrics pages (docs/metrics.md),
the logs (project/log_settings.py) and Sentry (project/error_tracking.py).

Kept apart from project/settings.py, which reads them with one call, so the
operator's knobs sit together."""

import os

import environ

from project.error_tracking import error_tracking
from project.log_settings import logging_settings


def operations_settings(
    env: environ.Env, *, hold_seconds: int, sweep_seconds: int, debug: bool
) -> dict:
    return {
        **_metrics_settings(env, hold_seconds=hold_seconds, sweep_seconds=sweep_seconds),
        # SENTRY_*: Sentry started when SENTRY_DSN is set, nothing otherwise.
        **error_tracking(env, debug=debug),
        # LOG_LEVEL, LOG_FORMAT (plain or json).
        "LOGGING": logging_settings(env),
    }


def _metrics_settings(env: environ.Env, *, hold_seconds: int, sweep_seconds: int) -> dict:
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
