"""Error tracking: Sentry, when SENTRY_DSN is set; nothing at all otherwise.

project/settings.py calls `error_tracking(env)` (through operations_settings),
so every process that loads the settings (gunicorn's workers, the Celery
workers and beat, Flower, manage.py) reports to the same project. Without a
DSN neither sentry-sdk nor its integrations are even imported.

With one: Django's unhandled exceptions, the Celery tasks' failures and every
ERROR log record become events; INFO and WARNING records ride along as
breadcrumbs. The beat's periodic sweeps are Sentry cron monitors: the beat
checks in when it sends one, the worker when it ends it (ok or error), so a
sweep that stopped running (no beat, no worker on `sweeps`, a message expired
unrun) shows as missed. Personal data is scrubbed before anything leaves the
process: project/sentry_scrubbing.py, docs/security.md.
"""

import environ

# Celery's own housekeeping entry (the beat installs it), not one of our sweeps.
UNMONITORED_BEAT_ENTRIES = [r"celery\.backend_cleanup"]


def error_tracking(env: environ.Env, *, debug: bool) -> dict[str, object]:
    """The SENTRY_* settings, read from the environment; Sentry started when
    SENTRY_DSN is set."""
    values = {
        "SENTRY_DSN": env.str("SENTRY_DSN", default=""),
        "SENTRY_ENVIRONMENT": env.str(
            "SENTRY_ENVIRONMENT", default="development" if debug else "production"
        ),
        "SENTRY_RELEASE": env.str("SENTRY_RELEASE", default=""),
        "SENTRY_TRACES_SAMPLE_RATE": env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    }
    init_sentry(
        dsn=values["SENTRY_DSN"],
        environment=values["SENTRY_ENVIRONMENT"],
        release=values["SENTRY_RELEASE"],
        traces_sample_rate=values["SENTRY_TRACES_SAMPLE_RATE"],
    )
    return values


def init_sentry(
    *, dsn: str, environment: str, release: str = "", traces_sample_rate: float = 0.0
) -> bool:
    """Starts Sentry for this process; False (and nothing imported) without a DSN."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import ignore_logger

    from project.sentry_scrubbing import PersonalDataScrubber

    scrubber = PersonalDataScrubber()
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        # Unset: sentry-sdk finds one itself (the git commit, a platform's variable).
        release=release or None,
        # 0 turns tracing off altogether (no spans made only to be dropped).
        traces_sample_rate=traces_sample_rate or None,
        # send_default_pii is left unset, which means off (2.x deprecates passing it):
        # no cookies, user, client address. Passing `data_collection` instead
        # would switch off the event scrubber below, so it is not passed either.
        event_scrubber=scrubber,
        before_send=scrubber.before_send,
        before_send_transaction=scrubber.before_send,
        integrations=[
            DjangoIntegration(),
            # DatabaseScheduler inherits the beat's apply_entry, which this patches.
            CeleryIntegration(monitor_beat_tasks=True, exclude_beat_tasks=UNMONITORED_BEAT_ENTRIES),
        ],
    )
    # A request with a Host not in ALLOWED_HOSTS is a scanner, not a bug of ours.
    ignore_logger("django.security.DisallowedHost")
    return True
