"""Private servers a fault test may take away: a `redis-server`, a PostgreSQL
cluster and a RabbitMQ node of its own, on free loopback ports, never the
machine's shared ones.

Each class raises `ServerUnavailable` when its binaries (or, as root, the
`postgres` user) are missing; the fixtures turn that into a skip.
"""

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from devtools.embedded_redis import free_port, redis_command, wait_for_port


class ServerUnavailable(Exception):
    """A binary or account the private server needs is not on this machine."""


def tail(path: Path | str, lines: int = 60) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as error:
        return f"(cannot read {path}: {error})"
    return "\n".join(text.splitlines()[-lines:])


class PrivateRedis:
    """A `redis-server` that keeps nothing on disk; `kill()` loses every key,
    `start()` again brings up an empty one on the same port."""

    def __init__(self, name: str) -> None:
        if not shutil.which("redis-server"):
            raise ServerUnavailable("redis-server is not on PATH")
        self.name = name
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"fault-redis-{name}-"))
        self.log_path = self.workdir / "redis.log"
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> "PrivateRedis":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                redis_command(self.port, str(self.workdir)),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port(self.port)
        return self

    def kill(self) -> None:
        """SIGKILL: the server dies with every queue and key it held."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _rabbitmq_server_script() -> str:
    """The `rabbitmq-server` script itself: Debian's /usr/sbin one is a wrapper
    that, as root, runs it as the `rabbitmq` user with the machine node's settings."""
    found = shutil.which("rabbitmq-server") or shutil.which("rabbitmq-server", path="/usr/sbin")
    if not found:
        raise ServerUnavailable("rabbitmq-server is not installed")
    real = Path(os.path.realpath(found))
    return str(real.parent / "rabbitmq-server") if real.name.endswith("-wrapper") else found


class PrivateRabbitMQ:
    """A RabbitMQ node of its own (name, ports, data, logs, Erlang cookie, no
    plugins) beside the machine's; `kill()` is a SIGKILL and `start()` again
    brings it back on the same port and data, with its durable queues. Runs as
    root or any user: everything it writes is in its own temporary folder."""

    def __init__(self) -> None:
        self.script = _rabbitmq_server_script()
        if not shutil.which("erl"):
            raise ServerUnavailable("erl (Erlang) is not on PATH")
        self.port, self.dist_port = free_port(), free_port()
        self.base = Path(tempfile.mkdtemp(prefix="fault-rabbitmq-"))
        (self.base / "home").mkdir()  # the node's own Erlang cookie is made here
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq.conf").write_text("")
        (self.base / "rabbitmq-env.conf").write_text("")
        self.log_path = self.base / "rabbitmq.log"
        self.process: subprocess.Popen | None = None

    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict:
        loopback = "-kernel inet_dist_use_interface {127,0,0,1}"
        return {
            **os.environ,
            "HOME": str(self.base / "home"),
            "RABBITMQ_NODENAME": f"fault-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.base / "rabbitmq.pid"),
            # Not the machine node's files in /etc/rabbitmq (its name, its listener).
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": loopback,
        }

    def start(self, timeout: float = 90) -> "PrivateRabbitMQ":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.script],
                cwd=self.base,
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the script and its Erlang VM, for kill()
            )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        from kombu import Connection

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(Exception), Connection(self.url(), connect_timeout=1) as c:
                c.ensure_connection(max_retries=1, timeout=1)
                return
            time.sleep(0.5)
        raise RuntimeError(f"RabbitMQ node did not start:\n{tail(self.log_path)}")

    def kill(self) -> None:
        """SIGKILL to the node's VM: no shutdown, connections cut as in a crash."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.base, ignore_errors=True)


def _postgres_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        raise ServerUnavailable(f"{name} (PostgreSQL server binaries) not found")
    return found


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (initdb, trust auth, fsync off).

    PostgreSQL refuses to run as root, so as root its commands run as the
    `postgres` user (`runuser`) in a directory that user owns.
    """

    def __init__(self) -> None:
        self.initdb = _postgres_binary("initdb")
        self.pg_ctl = _postgres_binary("pg_ctl")
        self.run_as: list[str] = []
        owner = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise ServerUnavailable("running as root and there is no postgres user") from None
            if not shutil.which("runuser"):
                raise ServerUnavailable("running as root and runuser is not on PATH")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="fault-pg-"))
        if owner is not None:
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
        self.data = self.base / "data"
        self.log_path = self.base / "postgres.log"
        self.database_url = ""  # set by create_database

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.run_as, *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    def _checked(self, *args: str, timeout: float = 60) -> None:
        result = self._run(*args, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{tail(self.log_path)}"
            )

    def init(self) -> "PrivatePostgres":
        self._checked(
            self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--no-sync", "--encoding=UTF8", "--locale=C",
        )  # fmt: skip
        return self

    def start(self) -> "PrivatePostgres":
        # fsync=off only risks data if the machine itself crashes; a killed server
        # loses nothing it acknowledged. synchronous_commit stays on: off, an
        # immediate stop would lose commits the server had already acknowledged.
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._checked(
            self.pg_ctl, "-D", str(self.data), "-l", str(self.log_path),
            "-w", "-t", "60", "-o", options, "start",
        )  # fmt: skip
        return self

    def stop_immediately(self) -> None:
        """`pg_ctl stop -m immediate`: every backend dies at once, as in a crash."""
        self._checked(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.database_url = self.url(name)
        return self.database_url

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            result = self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
            if result.returncode != 0:
                self._kill_postmaster()
        shutil.rmtree(self.base, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
