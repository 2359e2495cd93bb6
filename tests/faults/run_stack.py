"""`make run`'s own stack (devtools/stack.py: supervisor over the Procfile) on a
fault test's private servers, for tests of what survives when its processes or
servers die. The test process acts as buyers, killer and auditor."""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from devtools.embedded_redis import free_port
from tests.faults.buyers import http
from tests.faults.stack import INHERITED_VARIABLES, ROOT, STACK_SETTINGS, seed_ticket
from tests.waiting import wait_for

# The fault tests' short thresholds; `defaults=True` runs the project's own.
SHORT_THRESHOLDS = (
    "SWEEP_INTERVAL_SECONDS",
    "REQUEUE_AFTER_SECONDS",
    "STUCK_PAYMENT_MINUTES",
    "PAYMENT_RETRY_BACKOFF_SECONDS",
    "SIMULATED_GATEWAY_LATENCY_MS",
)


class RunStack:
    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        gateway_redis_url: str,
        defaults: bool = False,
        **env,
    ):
        self.workdir = Path(tempfile.mkdtemp(prefix="make-run-"))
        self.port, flower = free_port(), free_port()
        inherited = {k: os.environ[k] for k in INHERITED_VARIABLES if k in os.environ}
        settings = {
            k: v for k, v in STACK_SETTINGS.items() if not (defaults and k in SHORT_THRESHOLDS)
        }
        self.env = {
            **inherited,
            **settings,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SIMULATED_GATEWAY_REDIS_URL": gateway_redis_url,
            "RUN_DIR": str(self.workdir),
            "WEB_BIND": f"127.0.0.1:{self.port}",
            "FLOWER_PORT": str(flower),
            **env,
        }
        self.log_path = self.workdir / "stack.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> "RunStack":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devtools.stack", "--prepare"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(lambda: self.healthy() and self.all_running(), timeout=timeout)
        return self

    def healthy(self) -> bool:
        return http("GET", f"{self.url}/healthz", timeout=5).status == 200

    def _status(self) -> list[list[str]]:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "supervisorctl"),
                "-c",
                str(self.workdir / "supervisord.conf"),
                "status",
            ],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        return [line.split() for line in result.stdout.splitlines() if line.strip()]

    def programs(self) -> dict[str, str]:
        """Each process's state as supervisor reports it (RUNNING, STARTING, ...)."""
        return {fields[0]: fields[1] for fields in self._status()}

    def exited(self) -> dict[str, str]:
        """Processes not running now, with their state (the fault audit's question)."""
        return {name: state for name, state in self.programs().items() if state != "RUNNING"}

    def all_running(self) -> bool:
        states = self.programs()
        return bool(states) and set(states.values()) == {"RUNNING"}

    def pid_of(self, program: str) -> int:
        fields = next(fields for fields in self._status() if fields[0] == program)
        return int(fields[fields.index("pid") + 1].rstrip(","))

    def pool_children(self, program: str) -> list[psutil.Process]:
        """The program's live children: gunicorn's workers, a prefork pool."""
        children = psutil.Process(self.pid_of(program)).children()
        return [child for child in children if child.status() != psutil.STATUS_ZOMBIE]

    def seed_ticket(self, *, seats: int) -> int:
        return seed_ticket(self.env, seats=seats)

    def buy(self, ticket_id: int, email: str) -> str:
        body = {
            "ticket_id": ticket_id,
            "quantity": 1,
            "customer_name": "Survivor",
            "customer_email": email,
            "payment_method": "card",
            "payment_token": "tok_success",
        }
        answer = http("POST", f"{self.url}/api/tickets/purchase/direct/", body)
        assert answer.status == 202, answer.describe()
        return answer.json()["purchase_id"]

    def status(self, purchase_id: str) -> str | None:
        answer = http("GET", f"{self.url}/api/tickets/purchase/{purchase_id}/status/")
        return answer.json()["status"] if answer.status == 200 else None

    def log(self, lines: int = 80) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 20) -> bool:
        """Ctrl-C, as a developer would; True when every process of it is gone."""
        if self.process is None:
            return True
        tree = [self.process]
        with contextlib.suppress(psutil.NoSuchProcess):
            tree += psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        _, alive = psutil.wait_procs(tree, timeout=5)
        for process in alive:
            process.kill()
        return not alive
