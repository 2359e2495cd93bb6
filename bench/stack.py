"""The stack under test, started as production runs it, and stopped for sure.

The processes are the Procfile's own commands (as under `make run`); the bench
changes only the environment variables they read (WEB_CONCURRENCY, LOG_LEVEL, ...).

Every child gets its own session (so its own process group): stopping one is a
signal to the group, which reaches gunicorn's and Celery's forked workers too.
`Stack.stop()` runs from a `finally`, on Ctrl-C and on SIGTERM (see
flash_sale.main), and again from atexit as a last resort.
"""

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg
from honcho.environ import parse_procfile

from bench.config import DEFAULT_ADMIN_URL, DEFAULT_DATABASE, DEFAULT_REDIS_URL, Config
from devtools.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BENCH_SECRET_KEY = "bench-only-secret-key-not-for-production-" + "x" * 16


@dataclass
class Child:
    kind: str
    name: str
    process: subprocess.Popen
    log: Path


class Stack:
    """Database, broker and processes of one bench run."""

    def __init__(self, config: Config, logdir: Path) -> None:
        self.config = config
        self.logdir = logdir
        self.children: list[Child] = []
        self.database_url = config.database_url
        self.redis_url = config.redis_url
        self.created_database = ""
        self.web_port = 0
        atexit.register(self.stop)

    # --- database and broker ------------------------------------------------------------

    def prepare_backends(self) -> None:
        """A fresh bench database and Redis db, unless the environment names its own."""
        if self.database_url and not self.database_url.startswith(("postgres://", "postgresql://")):
            raise SystemExit("bench: DATABASE_URL must name a PostgreSQL database (or be unset)")
        if not self.database_url:
            with psycopg.connect(DEFAULT_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {DEFAULT_DATABASE} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {DEFAULT_DATABASE}")
            self.created_database = DEFAULT_DATABASE
            self.database_url = DEFAULT_ADMIN_URL.rsplit("/", 1)[0] + "/" + DEFAULT_DATABASE
        if not self.redis_url:
            import redis

            self.redis_url = DEFAULT_REDIS_URL
            redis.Redis.from_url(self.redis_url).flushdb()  # ours alone: db 3

    def drop_database(self) -> None:
        """Leaves the backends as found: the bench database dropped, Redis db 3 empty."""
        if not self.config.redis_url and self.redis_url:
            import redis

            with contextlib.suppress(redis.RedisError):
                redis.Redis.from_url(self.redis_url).flushdb()
        if not self.created_database or self.config.keep_database:
            return
        try:
            with psycopg.connect(DEFAULT_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {self.created_database} WITH (FORCE)")
        except psycopg.Error as exc:
            print(f"bench: could not drop {self.created_database}: {exc}", file=sys.stderr)

    def env(self) -> dict:
        """The environment of every process: production settings, bench backends."""
        deployment = self.config.deployment
        return {
            **os.environ,
            "PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "DEBUG": "false",
            # Production settings, but the bench pays through the simulated gateway.
            "SIMULATED_GATEWAY_ALLOWED": "true",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or BENCH_SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CONN_MAX_AGE": str(deployment.conn_max_age),
            "EMAIL_URL": deployment.email_url,
            # Django's root logger, and Celery's worker and beat (the Procfile's --loglevel).
            "LOG_LEVEL": deployment.worker_loglevel,
            # The load generator plays a trusted reverse proxy: each buyer is its own
            # client (X-Forwarded-For), so the per-client throttle applies as in production.
            "NUM_PROXIES": "1",
            "TRUSTED_PROXIES": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            # The web's and mailer's metrics files (the Procfile), apart from make run's.
            "METRICS_DIR": str(self.logdir / "metrics"),
        }

    def migrate(self) -> None:
        log = self.logdir / "migrate.log"
        with log.open("w") as out:
            subprocess.run(
                [PYTHON, "manage.py", "migrate", "--noinput"],
                cwd=ROOT,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
            )

    # --- processes ----------------------------------------------------------------------

    def spawn(self, kind: str, name: str, entry: str, env: dict[str, str]) -> Child:
        """Runs a Procfile entry through /bin/sh as honcho does; `exec` keeps the pid the
        program's own (py-spy attaches to it)."""
        log = self.logdir / f"{name}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {entry}"],
                cwd=ROOT,
                env={**self.env(), **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(kind, name, process, log)
        self.children.append(child)
        return child

    def start(self) -> None:
        """The Procfile's processes, tuned only through the variables they read."""
        deployment = self.config.deployment
        procfile = parse_procfile((ROOT / "Procfile").read_text()).processes
        self.web_port = free_port()
        access_log = f"--access-logfile={self.logdir / 'access.log'}"
        web = {
            "WEB_BIND": f"127.0.0.1:{self.web_port}",
            "WEB_CONCURRENCY": str(deployment.web_workers),
            "WEB_ACCESS_LOG_OPTION": access_log if deployment.web_access_log else "",  # "": none
            # Options the Procfile leaves to gunicorn's defaults.
            "GUNICORN_CMD_ARGS": f"--worker-class={deployment.web_worker_class} "
            f"--threads={deployment.web_threads} --backlog=2048",
        }
        self.spawn("web", "web", procfile["web"], web)
        for node in range(deployment.worker_nodes):
            self.spawn("worker", f"worker{node}", procfile["worker"], self.worker_env(node))
        # Delivery on its own process, as the Procfile runs it.
        mailer = {"CELERY_WORKER_POOL": deployment.worker_pool}
        if not deployment.worker_gossip:
            mailer |= {"CELERY_WORKER_WITHOUT_GOSSIP": "1", "CELERY_WORKER_WITHOUT_MINGLE": "1"}
        self.spawn("mailer", "mailer", procfile["mailer"], mailer)
        if deployment.beat:
            self.spawn("beat", "beat", procfile["beat"], {})
        if deployment.flower:
            flower = {"FLOWER_ADDRESS": "127.0.0.1", "FLOWER_PORT": str(free_port())}
            self.spawn("flower", "flower", procfile["flower"], flower)

    def worker_env(self, node: int) -> dict[str, str]:
        """Worker node `node`'s variables (celery worker reads CELERY_WORKER_<OPTION> for
        options the Procfile leaves out); its name is bench<node>@<host>."""
        deployment = self.config.deployment
        worker = {
            "WORKER_CONCURRENCY": str(deployment.worker_concurrency),
            # The Procfile's worker line names its pool (WORKER_POOL, threads by default).
            "WORKER_POOL": deployment.worker_pool,
            "CELERY_WORKER_HOSTNAME": f"bench{node}@%h",
        }
        if not deployment.worker_gossip:
            worker |= {"CELERY_WORKER_WITHOUT_GOSSIP": "1", "CELERY_WORKER_WITHOUT_MINGLE": "1"}
        return worker

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        """The API answers /healthz and every worker node answers a ping."""
        deadline = time.monotonic() + timeout
        self._wait_web(deadline)
        self._wait_workers(deadline)

    def _check_alive(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                tail = child.log.read_text(errors="replace")[-3000:]
                code = child.process.returncode
                raise RuntimeError(f"{child.name} exited early ({code}):\n{tail}")

    def _wait_web(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer /healthz in time")

    def _wait_workers(self, deadline: float) -> None:
        from workers.celery import app

        expected = self.config.deployment.worker_nodes
        while time.monotonic() < deadline:
            self._check_alive()
            replies = app.control.ping(timeout=1.0)
            names = {name for reply in replies for name in reply if name.startswith("bench")}
            if len(names) >= expected:
                return
        raise RuntimeError("the Celery workers did not answer a ping in time")

    def pipeline_nodes(self) -> list[str]:
        """The names of the worker nodes (`bench<node>@<host>`), from a ping."""
        from workers.celery import app

        expected = self.config.deployment.worker_nodes
        names: list[str] = []
        for _ in range(5):  # a busy node may miss one ping's second
            replies = app.control.ping(timeout=2.0)
            names = sorted(n for reply in replies for n in reply if n.startswith("bench"))
            if len(names) == expected:
                return names
        raise RuntimeError(f"worker nodes {names} answer a ping, {expected} expected")

    def pids(self) -> dict[str, list[int]]:
        kinds: dict[str, list[int]] = {}
        for child in self.children:
            kinds.setdefault(child.kind, []).append(child.process.pid)
        return kinds

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after a grace period."""
        alive = [child for child in self.children if child.process.poll() is None]
        for child in alive:
            _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in alive:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for child in self.children:
            # The group too: a forked worker may outlive its parent.
            _signal_group(child.process, signal.SIGKILL)
            try:
                child.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                print(f"bench: {child.name} ({child.process.pid}) did not die", file=sys.stderr)
        self.children.clear()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # start_new_session: the group id is the child's pid
