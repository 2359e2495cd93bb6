"""The whole product in subprocesses, as production runs it: gunicorn, one Celery
worker consuming every queue, and one beat with the project's schedule, all
pointed at the private servers of a fault test. The test process only acts as
buyers and auditor.

Every process runs in its own process group (so a stop reaches gunicorn's and
Celery's children) and logs to a file that `diagnostics()` shows on failure.
"""

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from devtools.embedded_redis import free_port, wait_for_port
from tests.faults.servers import tail

ROOT = Path(__file__).resolve().parents[2]

# Short thresholds, so that what a fault loses is found again within seconds.
STACK_SETTINGS = {
    "DEBUG": "true",
    "SECRET_KEY": "fault-test-secret-key",
    "DJANGO_SETTINGS_MODULE": "project.settings",
    "THROTTLE_PURCHASE_CREATE": "100000/minute",
    # Every buyer comes from the test's one address.
    "HOLD_CAP_PER_CLIENT": "100000",
    "SWEEP_INTERVAL_SECONDS": "1",
    "REQUEUE_AFTER_SECONDS": "2",
    "STUCK_PAYMENT_MINUTES": "1",
    "PAYMENT_RETRY_BACKOFF_SECONDS": "0.2",
    # Each charge takes a real processor's while, so the fault always finds work in flight.
    "SIMULATED_GATEWAY_LATENCY_MS": "500",
    "EMAIL_URL": "console://",
    "LOG_LEVEL": "INFO",
    "PYTHONUNBUFFERED": "1",
}
# Only these come from the test session: its own configuration (the suite's
# conftest sets retries, throttles, databases) must not leak into the stack.
INHERITED_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR",
                       "TZ", "PYTHONPATH", "VIRTUAL_ENV")  # fmt: skip

_running: set["Service"] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Belt and braces: an interrupted session still takes its processes down."""
    for service in list(_running):
        service.kill()


def manage(env: dict, *args: str, timeout: float = 120) -> str:
    """`manage.py` in a stack's environment; its output, or why it failed."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)[:80]} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def seed_ticket(env: dict, *, seats: int, price: str = "10.00") -> int:
    """One event in a week, on sale now, made as the admin makes one."""
    code = (
        "from datetime import timedelta; from decimal import Decimal;"
        "from django.utils import timezone; from tickets import inventory;"
        "t = inventory.ticket_create(name='Fault Test Night Tour', venue='Old Town',"
        f" starts_at=timezone.now() + timedelta(days=7), price=Decimal({price!r}),"
        f" currency='USD', total_quantity={seats}, is_on_sale=True); print('TICKET', t.pk)"
    )
    output = manage(env, "shell", "-c", code)
    return int(output.split("TICKET", 1)[1].split()[0])


class Service:
    """One long-running process of the stack."""

    def __init__(self, name: str, argv: list[str], env: dict, logdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = logdir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Service":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _running.add(self)
        return self

    def exit_code(self) -> int | None:
        return self.process.poll() if self.process else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return
            if self.exit_code() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} did not log {needle!r} (exit code {self.exit_code()}):\n"
            f"{tail(self.log_path)}"
        )

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        if self.process:
            self._signal_group(signal.SIGKILL)
            self.process.wait(timeout=10)
        _running.discard(self)

    def terminate(self) -> None:
        """SIGTERM to the main process alone: gunicorn's master and Celery's
        worker shut their children down themselves."""
        if self.process and self.process.poll() is None:
            self.process.terminate()

    def stop(self, deadline: float) -> None:
        """Waits for a terminated process until `deadline` (monotonic), then
        SIGKILLs whatever is left of its group."""
        if not self.process:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        # Children (gunicorn's workers, Celery's pool) may outlive their parent.
        self.kill()


class Stack:
    def __init__(
        self, *, database_url: str, redis_url: str, gateway_redis_url: str, broker_url: str = ""
    ) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="fault-stack-"))
        self.port = free_port()
        inherited = {k: os.environ[k] for k in INHERITED_VARIABLES if k in os.environ}
        self.env = {
            **inherited,
            **STACK_SETTINGS,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SIMULATED_GATEWAY_REDIS_URL": gateway_redis_url,
            # Unset: Redis (REDIS_URL) carries the tasks too.
            **({"CELERY_BROKER_URL": broker_url} if broker_url else {}),
        }
        hostname = f"fault-{uuid.uuid4().hex[:6]}@localhost"
        python = sys.executable
        self.web = Service(
            "web",
            [
                python, "-m", "gunicorn", "project.wsgi", "--bind", f"127.0.0.1:{self.port}",
                "--workers", "2", "--threads", "8", "--graceful-timeout", "5",
                "--access-logfile", "-",
            ],
            self.env,
            self.workdir,
        )  # fmt: skip
        self.worker = Service(
            "worker",
            [
                python, "-m", "celery", "-A", "workers", "worker", "--loglevel=INFO",
                "--concurrency=4", "--prefetch-multiplier=1",
                "-Q", "celery,sweeps,delivery,cancellations",
                "--without-gossip", "--without-mingle", f"--hostname={hostname}",
            ],
            self.env,
            self.workdir,
        )  # fmt: skip
        self.beat = Service(
            "beat",
            [
                python, "-m", "celery", "-A", "workers", "beat", "--loglevel=INFO",
                "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
                "--pidfile=", "--schedule", str(self.workdir / "celerybeat-schedule"),
            ],
            self.env,
            self.workdir,
        )  # fmt: skip
        self.services = [self.web, self.worker, self.beat]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str, timeout: float = 120) -> str:
        return manage(self.env, *args, timeout=timeout)

    def start(self) -> "Stack":
        # migrate also installs the beat schedule, with this environment's intervals.
        self.manage("migrate", "--noinput")
        for service in self.services:
            service.start()
        self.worker.wait_for_log(" ready.", timeout=60)
        self.beat.wait_for_log("beat: Starting", timeout=60)
        wait_for_port(self.port, timeout=60)
        self._wait_healthy(timeout=30)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the stack never became healthy:\n{self.diagnostics()}")

    def seed_ticket(self, *, seats: int, price: str = "10.00") -> int:
        return seed_ticket(self.env, seats=seats, price=price)

    def exited(self) -> dict[str, int]:
        """Processes of the stack that are no longer running, with their exit codes."""
        return {s.name: s.exit_code() for s in self.services if s.exit_code() is not None}

    def diagnostics(self, lines: int = 60) -> str:
        parts = []
        for service in self.services:
            state = "running" if service.exit_code() is None else f"exited {service.exit_code()}"
            parts.append(f"----- {service.name} ({state}): last {lines} lines -----")
            parts.append(tail(service.log_path, lines))
        return "\n".join(parts)

    def stop(self, grace: float = 6.0) -> None:
        """SIGTERM to every process at once; SIGKILL to what is left of their
        groups after `grace` seconds."""
        for service in self.services:
            service.terminate()
        deadline = time.monotonic() + grace
        for service in self.services:
            service.stop(deadline)

    def remove(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
