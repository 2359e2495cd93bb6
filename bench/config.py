"""What a bench run does, read once from the environment.

B, I and C (buyers, seats, concurrent clients) come from BENCH_BUYERS,
BENCH_SEATS and BENCH_CONCURRENCY; the deployment knobs (gunicorn, Celery,
CONN_MAX_AGE) have BENCH_ names too, so a tuning experiment is one variable on
the command line and is recorded in the results.
"""

import os
from dataclasses import asdict, dataclass, field

DEFAULT_DATABASE = "bench_flash_sale"
DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"
DEFAULT_CALIBRATION_DIR = "/work/shared/calibration"
CALIBRATION_DATABASE = "bench_calibration"
CALIBRATION_REDIS_URL = "redis://127.0.0.1:6379/7"


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def _str(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _rates(name: str, default: str) -> tuple[float, ...]:
    """A comma-separated list of rates, e.g. "50,200"."""
    text = os.environ.get(name) or default
    return tuple(float(part) for part in text.split(",") if part.strip())


def _paced_rates() -> tuple[float, ...]:
    # BENCH_PACED_RATE (one rate) is still read when BENCH_PACED_RATES is not set.
    return _rates("BENCH_PACED_RATES", os.environ.get("BENCH_PACED_RATE") or "50,200")


def rate_label(rate: float) -> str:
    """50.0 -> "50", 12.5 -> "12.5": the suffix of the per-rate keys."""
    return f"{rate:g}"


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if not value:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _accept_only_buyers() -> int:
    calibrated = _int("BENCH_CALIBRATION_BUYERS", 0) or _int("BENCH_BUYERS", 2000)
    return _int("BENCH_ACCEPT_ONLY_BUYERS", calibrated if _bool("BENCH_CALIBRATE", False) else 0)


@dataclass(frozen=True)
class Deployment:
    """How the stack is run: the knobs production would tune."""

    web_workers: int = field(default_factory=lambda: _int("BENCH_WEB_WORKERS", 2))
    web_worker_class: str = field(default_factory=lambda: _str("BENCH_WEB_WORKER_CLASS", "sync"))
    web_threads: int = field(default_factory=lambda: _int("BENCH_WEB_THREADS", 1))
    web_access_log: bool = field(default_factory=lambda: _bool("BENCH_WEB_ACCESS_LOG", False))
    worker_nodes: int = field(default_factory=lambda: _int("BENCH_WORKER_NODES", 1))
    worker_pool: str = field(default_factory=lambda: _str("BENCH_WORKER_POOL", "threads"))
    worker_concurrency: int = field(default_factory=lambda: _int("BENCH_WORKER_CONCURRENCY", 4))
    worker_loglevel: str = field(default_factory=lambda: _str("BENCH_WORKER_LOGLEVEL", "WARNING"))
    worker_gossip: bool = field(default_factory=lambda: _bool("BENCH_WORKER_GOSSIP", True))
    beat: bool = field(default_factory=lambda: _bool("BENCH_BEAT", True))
    flower: bool = field(default_factory=lambda: _bool("BENCH_FLOWER", False))
    conn_max_age: int = field(default_factory=lambda: _int("BENCH_CONN_MAX_AGE", 60))
    email_url: str = field(default_factory=lambda: _str("BENCH_EMAIL_URL", "dummy://"))


@dataclass(frozen=True)
class Config:
    buyers: int = field(default_factory=lambda: _int("BENCH_BUYERS", 2000))
    seats: int = field(default_factory=lambda: _int("BENCH_SEATS", 500))
    concurrency: int = field(default_factory=lambda: _int("BENCH_CONCURRENCY", 100))
    # Buyers per second offered in the burst; 0 = all at once (a flash sale).
    rate: float = field(default_factory=lambda: _float("BENCH_RATE", 0))
    # The paced phases: a ticket with a seat for everyone per rate, buyers arriving
    # at a steady rate (0 buyers skips them); the first rate is `paced_confirm_p99_ms`.
    paced_buyers: int = field(default_factory=lambda: _int("BENCH_PACED_BUYERS", 300))
    paced_rates: tuple[float, ...] = field(default_factory=_paced_rates)
    # The capacity phase: a ticket with a seat for each of these buyers, all at
    # once (0 skips it): seated purchases per second and their CPU.
    capacity_buyers: int = field(default_factory=lambda: _int("BENCH_CAPACITY_BUYERS", 1000))
    # Accept only (bench/accept_only.py): a seat for each of these buyers, posting at
    # once while the worker does not consume, then the drain (0 skips it). It is
    # there to be held against the bare stack: by default as many buyers as the
    # bare stack's `/buy/` takes with BENCH_CALIBRATE, none without.
    accept_only_buyers: int = field(default_factory=lambda: _accept_only_buyers())
    # A sale that opens (bench/opening.py), with BENCH_OPENING: buyers arriving evenly
    # over the seconds for the seats, polling until they know (0 buyers skips it).
    # Off by default: it adds about a minute to a run on a busy 2-core machine.
    opening: bool = field(default_factory=lambda: _bool("BENCH_OPENING", False))
    opening_buyers: int = field(default_factory=lambda: _int("BENCH_OPENING_BUYERS", 3000))
    opening_seconds: float = field(default_factory=lambda: _float("BENCH_OPENING_SECONDS", 10))
    opening_seats: int = field(default_factory=lambda: _int("BENCH_OPENING_SEATS", 1000))
    # The bare stack of /work/shared/calibration, run after the project's (bench/calibration.py).
    calibrate: bool = field(default_factory=lambda: _bool("BENCH_CALIBRATE", False))
    calibration_dir: str = field(
        default_factory=lambda: _str("BENCH_CALIBRATION_DIR", DEFAULT_CALIBRATION_DIR)
    )
    calibration_buyers: int = field(default_factory=lambda: _int("BENCH_CALIBRATION_BUYERS", 0))
    # Flushed before and after: a Redis db nobody else on the machine uses.
    calibration_redis_url: str = field(
        default_factory=lambda: _str("BENCH_CALIBRATION_REDIS_URL", CALIBRATION_REDIS_URL)
    )
    idempotency_keys: bool = field(default_factory=lambda: _bool("BENCH_IDEMPOTENCY_KEYS", False))
    timeout_s: float = field(default_factory=lambda: _float("BENCH_TIMEOUT", 600))
    # py-spy records one web and one worker process during the burst.
    profile: bool = field(default_factory=lambda: _bool("BENCH_PROFILE", False))
    keep_database: bool = field(default_factory=lambda: _bool("BENCH_KEEP_DB", False))
    database_url: str = field(default_factory=lambda: os.environ.get("DATABASE_URL", ""))
    redis_url: str = field(default_factory=lambda: os.environ.get("REDIS_URL", ""))
    deployment: Deployment = field(default_factory=Deployment)

    @property
    def paced_rate(self) -> float | None:
        """The first paced rate, the one `paced_confirm_p99_ms` is measured at."""
        return self.paced_rates[0] if self.paced_rates else None

    def as_dict(self) -> dict:
        return {**asdict(self), "paced_rate": self.paced_rate}
