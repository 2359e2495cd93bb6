"""Loaded by pytest before Django is set up: fixes the environment the settings
read. Without REDIS_URL the suite starts its own Redis, as `make run` does."""

import atexit
import os
import tempfile
from urllib.parse import urlsplit, urlunsplit

import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault(
    "SQLITE_TEST_NAME", os.path.join(tempfile.gettempdir(), f"tickets-test-{os.getpid()}.sqlite3")
)
os.environ.setdefault("PAYMENT_RETRY_BACKOFF_SECONDS", "0.2")
os.environ.setdefault("PAYMENT_MAX_RETRIES", "2")
# Many test buyers share one address; the throttling tests set their own rates.
os.environ.setdefault("THROTTLE_PURCHASE_CREATE", "100000/minute")
os.environ.setdefault("THROTTLE_CODE_REDEEM", "100000/minute")
os.environ.setdefault("THROTTLE_WRITES", "100000/minute")
# So do waiting-list joins; the mail-cap tests set their own caps.
os.environ.setdefault("WAITING_LIST_MAILS_PER_CLIENT", "100000")
# Tests hold most of a small ticket without paying on purpose, and many test
# buyers share one address and one e-mail; the anti-hoarding tests set their own caps.
os.environ.setdefault("UNPAID_HOLDS_MAX_PERCENT", "100")
os.environ.setdefault("HOLD_CAP_PER_CLIENT", "100000")
os.environ.setdefault("HOLD_CAP_PER_EMAIL", "100000")
# The suite pays through the simulated gateway on purpose, whatever DEBUG says
# (settings refuse it outside DEBUG unless allowed), and drives its callback.
os.environ.setdefault("SIMULATED_GATEWAY_ALLOWED", "true")
os.environ.setdefault("PAYMENT_SIMULATION_ENABLED", "true")
# The suite never reports to a real Sentry: the error-tracking tests start it
# themselves, pointed at a sink of their own (tests/project/test_error_tracking.py).
os.environ["SENTRY_DSN"] = ""

if not os.environ.get("REDIS_URL"):
    from devtools.embedded_redis import EmbeddedRedis

    _redis = EmbeddedRedis().start()
    atexit.register(_redis.stop)
    os.environ["REDIS_URL"] = _redis.url


# Load the settings now, so pytest-django sets Django up with this environment.
from django.conf import settings

settings.DATABASES  # noqa: B018


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs):
    """Under pytest-xdist (`make test-fast`) each test process gets a Redis
    database of its own, the ones after REDIS_URL's (gw0 keeps it, gw1 the
    next, ...): tests clear the keys they use, and two processes on one
    database would clear each other's. Set through the node's environment, as
    the processes load the settings before reading this file."""
    for spec in specs:
        spec.env["REDIS_URL"] = redis_url_of_xdist_worker(os.environ["REDIS_URL"], spec.id)


def redis_url_of_xdist_worker(url: str, worker: str) -> str:
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    database = (base + int(worker.removeprefix("gw"))) % 16
    return urlunsplit(parts._replace(path=f"/{database}"))
