"""Runs real Celery worker processes for the tests, pointed at the test database."""

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

from project.tasks import CANCELLATIONS_QUEUE, DELIVERY_QUEUE, PIPELINE_QUEUE, SWEEPS_QUEUE

ROOT = Path(__file__).resolve().parent.parent

# What the test workers consume: every queue of the project (workers/queues.py).
WORKER_QUEUES = (PIPELINE_QUEUE, SWEEPS_QUEUE, DELIVERY_QUEUE, CANCELLATIONS_QUEUE)

# The test being run (set by tests/conftest.py), None outside pytest.
running_test = None


def require_mark(what: str, *markers: str) -> None:
    """Refuses to start a process for a test that has none of `markers`: the
    markers come from fixtures (tests/conftest.py), so a test that starts a
    worker must get it through one of them, and `-m "not worker"` never starts one."""
    test = running_test
    if test is None or any(test.get_closest_marker(marker) for marker in markers):
        return
    raise RuntimeError(
        f"{test.nodeid} starts {what} but is not marked {' or '.join(markers)}: use the "
        "fixtures of tests/conftest.py (worker, start_worker, start_beat, web_server)"
    )


def test_database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    address = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{credentials}{address}/{db['NAME']}"


def service_env(extra_env: dict | None = None) -> dict:
    """The environment of a process that must share the tests' database and broker:
    the run's broker (CELERY_BROKER_URL, Redis or RabbitMQ) unless `extra_env` names another."""
    return {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        **(extra_env or {}),
    }


# Every queue: a test's worker is pipeline worker and mailer at once, unless told.
ALL_QUEUES = "celery,sweeps,delivery,cancellations"


def purge_queues(app) -> int:
    """Empties every queue the project's workers consume, on Redis or RabbitMQ,
    declaring those not there yet (as the workers declare them: durable). Not
    `app.control.purge()`: that purges only the queues this process has routed to,
    and RabbitMQ keeps its durable queues, with what an earlier run left, across runs."""
    with app.connection_for_write() as conn:
        queues = [app.amqp.queues[name] for name in WORKER_QUEUES]
        # Declares them on creation; never consumes (no `with`, which would).
        return app.amqp.TaskConsumer(conn.default_channel, queues=queues).purge()


class WorkerProcess:
    def __init__(
        self,
        name: str,
        concurrency: int = 4,
        extra_env: dict | None = None,
        queues: str = ALL_QUEUES,
    ) -> None:
        self.hostname = f"test-{name}-{uuid.uuid4().hex[:6]}@localhost"
        self.concurrency = concurrency
        self.queues = queues
        self.extra_env = extra_env or {}
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (open for the worker's life)
            prefix="celery-worker-", suffix=".log", delete=False
        )
        self.process: subprocess.Popen | None = None

    def control(self):
        """The Celery app that reaches this worker: the project's, or one on the
        broker the worker was given (CELERY_BROKER_URL in its extra_env)."""
        from workers.celery import app

        broker_url = self.extra_env.get("CELERY_BROKER_URL")
        if not broker_url:
            return app
        from celery import Celery

        # Not the current app: the test process keeps publishing through its own.
        return Celery("control", broker=broker_url, set_as_current=False)

    def start(self, purge: bool = True) -> "WorkerProcess":
        require_mark("a Celery worker", "worker")
        if purge:
            purge_queues(self.control())
        connection.close()  # the worker must not inherit a half-open connection
        env = service_env(self.extra_env)
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "workers", "worker",
                "--loglevel=INFO", f"--concurrency={self.concurrency}",
                "--prefetch-multiplier=1", f"--hostname={self.hostname}",
                f"--queues={self.queues}",
                "--without-gossip", "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches the pool
        )  # fmt: skip
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        app = self.control()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            if app.control.ping(destination=[self.hostname], timeout=0.5):
                return
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.output()}")

    def idle(self) -> bool:
        """True when the worker runs no task and holds none waiting."""
        inspect = self.control().control.inspect(destination=[self.hostname], timeout=1.0)
        busy = [inspect.active(), inspect.reserved()]
        if any(reply is None for reply in busy):
            return False
        return not any(tasks for reply in busy for tasks in reply.values())

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once: no chance to clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


class WebServer:
    """The API under gunicorn, as production runs it, on a free loopback port."""

    def __init__(self, workers: int = 2, threads: int = 8, extra_env: dict | None = None) -> None:
        from devtools.embedded_redis import free_port

        self.port = free_port()
        self.workers = workers
        self.threads = threads
        self.extra_env = extra_env or {}
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (open for the server's life)
            prefix="gunicorn-", suffix=".log", delete=False
        )
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "WebServer":
        from devtools.embedded_redis import wait_for_port

        require_mark("gunicorn", "worker", "browser")
        connection.close()
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "project.wsgi",
                "--config=python:project.gunicorn_conf", f"--bind=127.0.0.1:{self.port}",
                f"--workers={self.workers}", f"--threads={self.threads}", "--graceful-timeout=5",
            ],
            cwd=ROOT,
            env=service_env(self.extra_env),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_for_port(self.port, timeout=30)
        self._wait_answering(timeout=60)
        return self

    def _wait_answering(self, timeout: float) -> None:
        """Until a gunicorn worker answers: the master listens before its workers
        have loaded Django, which on a busy machine can outlast a test's request timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # an answer all the same (503: a server the test took away)
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)


class BeatProcess:
    """A real `celery beat` reading the schedule from the test database
    (django_celery_beat's DatabaseScheduler), waking at least every second."""

    def __init__(self, max_interval: int = 1, extra_env: dict | None = None) -> None:
        self.max_interval = max_interval
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None

    def start(self) -> "BeatProcess":
        require_mark("a Celery beat", "worker")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "workers", "beat", "--loglevel=INFO",
                "--scheduler=django_celery_beat.schedulers:DatabaseScheduler",
                f"--max-interval={self.max_interval}", "--pidfile=",
                f"--schedule={ROOT / '.beat-test'}",
            ],
            cwd=ROOT,
            env=service_env(self.extra_env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
