"""`BENCH_CALIBRATE=1`: the bare stack of /work/shared/calibration, measured by this bench.

The calibration app (its README.md and app.py) is the least a purchase needs with
Django + DRF + Celery: a POST that validates, INSERTs and publishes (202), a
status GET by primary key, a task that seats one purchase. It is the floor to
hold the project's figures against, so it runs in the same invocation, after
the project's stack has stopped, with the same load generator and the same
CPU accounting (bench/monitor.py, `SERVER_KINDS`):

1. app.py and calib/ copied into a temporary directory (the shared directory
   is never written); a fresh database `bench_calibration` (dropped at the end)
   and Redis db 7 (BENCH_CALIBRATION_REDIS_URL; flushed before and after);
   `python app.py init N`, N = the buyers: a seat for everyone.
2. gunicorn `app:application -w 2`, and the worker `celery -A app:capp worker
   -c 4` (prefork, as its README runs it) started at once but consuming an idle
   queue, so its start-up is neither in the accept figures nor in the drain.
3. Accept: N buyers POST `/buy/` at once over C connections (no polling).
4. Status: one GET `/status/<id>/` per accepted purchase over C connections.
5. Drain: the worker is told to consume the `celery` queue (remote control
   `add_consumer`); purchases leaving `pending` are counted every 0.1 s until
   none is left.

`server_cpu_ms_per_buyer`: CPU of gunicorn, the worker, PostgreSQL and Redis
over steps 3 to 5 ÷ N, as the project's burst figure counts web, workers,
mailer, beat, PostgreSQL and Redis; `server_cpu_ms_per_status_get`: the same
over step 4 ÷ the GETs (bench/accept_only.py measures ours the same way).
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import redis
from celery import Celery

from bench.config import CALIBRATION_DATABASE, DEFAULT_ADMIN_URL, Config
from bench.load import LoadGenerator, get_each
from bench.monitor import Monitor, cpu_between, cpu_ms_per, postgres_backends, postmaster_of
from bench.report import accept_figures, rate, spread
from bench.stack import PYTHON, Child, _signal_group
from devtools.embedded_redis import free_port

WEB_WORKERS = 2
WORKER_CONCURRENCY = 4
IDLE_QUEUE = "bench-idle"
DRAIN_SAMPLE_S = 0.1
WORKER_NODE = "calib@bench"


class BareStack:
    """The calibration app's database, broker and two processes."""

    def __init__(self, config: Config, logdir: Path) -> None:
        self.config = config
        self.logdir = logdir
        self.buyers = config.calibration_buyers or config.buyers
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-calibration-"))
        self.database_url = DEFAULT_ADMIN_URL.rsplit("/", 1)[0] + "/" + CALIBRATION_DATABASE
        self.redis_url = config.calibration_redis_url
        self.port = free_port()
        self.children: list[Child] = []
        self._control = None

    def env(self) -> dict:
        return {
            **os.environ,
            "PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "CALIB_DB_NAME": CALIBRATION_DATABASE,
            "CALIB_DB_HOST": "127.0.0.1",
            "CALIB_DB_PORT": "5432",
            "CALIB_DB_USER": "postgres",
            "CALIB_REDIS_URL": self.redis_url,
            "PYTHONUNBUFFERED": "1",
        }

    def prepare(self) -> None:
        source = Path(self.config.calibration_dir)
        if not (source / "app.py").is_file():
            raise RuntimeError(f"no app.py in {source} (BENCH_CALIBRATION_DIR)")
        shutil.copy(source / "app.py", self.workdir / "app.py")
        shutil.copytree(source / "calib", self.workdir / "calib")
        with psycopg.connect(DEFAULT_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {CALIBRATION_DATABASE} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {CALIBRATION_DATABASE}")
        redis.Redis.from_url(self.redis_url).flushdb()
        self.run_once("init", [PYTHON, "app.py", "init", str(self.buyers)])

    def run_once(self, name: str, argv: list[str]) -> None:
        with (self.logdir / f"calibration-{name}.log").open("w") as out:
            subprocess.run(
                argv, cwd=self.workdir, env=self.env(), stdout=out, stderr=out, check=True
            )

    def spawn(self, kind: str, argv: list[str]) -> None:
        log = self.logdir / f"calibration-{kind}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.children.append(Child(kind, f"calibration-{kind}", process, log))

    def start(self) -> None:
        bindir = Path(PYTHON).parent
        self.spawn("web", [str(bindir / "gunicorn"), "app:application",
                           "-w", str(WEB_WORKERS), "-b", f"127.0.0.1:{self.port}"])  # fmt: skip
        self.spawn("worker", [str(bindir / "celery"), "-A", "app:capp", "worker",
                              "-c", str(WORKER_CONCURRENCY), "-Q", IDLE_QUEUE,
                              "-n", WORKER_NODE, "--loglevel=WARNING"])  # fmt: skip

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._web_answers():
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("the calibration gunicorn did not answer in time")
            time.sleep(0.2)
        while not self.control().ping(destination=[WORKER_NODE], timeout=1.0):
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("the calibration worker did not answer a ping in time")

    def _web_answers(self) -> bool:
        request = urllib.request.Request(f"{self.base_url}/nodb/", data=b"{}", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status == 202
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def _check_alive(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                tail = child.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{child.name} exited early:\n{tail}")

    def control(self):
        if self._control is None:
            self._control = Celery("bench-calibration-control", broker=self.redis_url).control
        return self._control

    def pids(self) -> dict[str, list[int]]:
        return {child.kind: [child.process.pid] for child in self.children}

    def pending(self) -> int:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return conn.execute(
                "SELECT count(*) FROM calib_purchase WHERE status = 'pending'"
            ).fetchone()[0]

    def statuses(self) -> dict[str, int]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT status, count(*) FROM calib_purchase GROUP BY status"
            ).fetchall()
        return dict(rows)

    def stop(self) -> None:
        for child in self.children:
            _signal_group(child.process, signal.SIGTERM)
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=15)
            _signal_group(child.process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=5)
        self.children.clear()

    def cleanup(self) -> None:
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(self.redis_url).flushdb()
        try:
            with psycopg.connect(DEFAULT_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {CALIBRATION_DATABASE} WITH (FORCE)")
        except psycopg.Error as exc:
            print(f"bench: could not drop {CALIBRATION_DATABASE}: {exc}", flush=True)
        shutil.rmtree(self.workdir, ignore_errors=True)


def drain(bare: BareStack, timeout: float) -> dict:
    """Tells the worker to consume the purchases' queue; counts them leaving `pending`."""
    before = bare.pending()
    told_at = time.time()
    bare.control().add_consumer("celery", destination=[WORKER_NODE], reply=True, timeout=5)
    first_progress_at = None
    left = before
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        time.sleep(DRAIN_SAMPLE_S)
        left = bare.pending()
        if first_progress_at is None and left < before:
            first_progress_at = time.time()
    done_at = time.time()
    drained = before - left
    return {
        "pending_before": before,
        "pending_left": left,
        "drain_window_s": round(done_at - (first_progress_at or told_at), 3),
        "confirmed_per_s": rate(drained, done_at - (first_progress_at or told_at)),
        "confirmed_per_s_from_add_consumer": rate(drained, done_at - told_at),
        "statuses": bare.statuses(),
    }


def status_figures(bare: BareStack, purchase_ids: list[str], concurrency: int) -> dict:
    urls = [f"{bare.base_url}/status/{pid}/" for pid in purchase_ids]
    gets = get_each(urls, concurrency)
    return {
        "status_gets": len(urls),
        "status_answers": {str(k): v for k, v in gets.statuses.items()},
        "status_per_s": rate(len(gets.ms), gets.finished_at - gets.started_at),
        **spread("status", gets.ms),
    }


def measure(bare: BareStack, config: Config) -> dict:
    redis_port = int(bare.redis_url.rsplit(":", 1)[1].split("/")[0])
    monitor = Monitor(
        bare.pids,
        postgres_backends(bare.database_url),
        redis_port=redis_port,
        postmaster=postmaster_of(bare.database_url),
    ).start()
    try:
        before = monitor.snapshot()
        load = LoadGenerator(
            base_url=bare.base_url, ticket_id=1, buyers=bare.buyers,
            concurrency=config.concurrency, run_id=f"calibration-{bare.logdir.name}",
            purchase_path="/buy/", status_path="/status/{id}/", poll=False,
        ).run()  # fmt: skip
        accepted_snap = monitor.snapshot()
        ids = [b.purchase_id for b in load.buyers if b.purchase_id]
        status = status_figures(bare, ids, config.concurrency)
        status_snap = monitor.snapshot()
        drained = drain(bare, config.timeout_s)
        after = monitor.snapshot()
    finally:
        monitor.stop()
    answers = accept_figures(load)
    cpu = cpu_between(before, after)
    return {
        **{k: answers[k] for k in ("buyers", "accepted", "rejected", "rejections",
                                   "accepted_per_s", "accept_p50_ms", "accept_p99_ms")},
        **status,
        **drained,
        "server_cpu_ms_per_buyer": cpu_ms_per(cpu, bare.buyers),
        "server_cpu_ms_per_status_get": cpu_ms_per(cpu_between(accepted_snap, status_snap),
                                                   len(ids)),
        "server_cpu_ms_per_buyer_by_step": {
            "accept": cpu_ms_per(cpu_between(before, accepted_snap), bare.buyers),
            "status_get": cpu_ms_per(cpu_between(accepted_snap, status_snap), bare.buyers),
            "drain": cpu_ms_per(cpu_between(status_snap, after), bare.buyers),
        },
        "cpu": cpu,
    }  # fmt: skip


def run_calibration(config: Config, logdir: Path) -> dict:
    """The calibration figures, or {"error": ...} when the bare stack could not be measured."""
    bare = BareStack(config, logdir)
    print(f"bench: calibration: the bare stack, {bare.buyers} buyers", flush=True)
    try:
        bare.prepare()
        bare.start()
        bare.wait_ready()
        return {"buyers": bare.buyers, "web_workers": WEB_WORKERS,
                "worker_concurrency": WORKER_CONCURRENCY, **measure(bare, config)}  # fmt: skip
    except Exception as exc:  # the project's figures stand; say why the floor is missing
        return {"buyers": bare.buyers, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        bare.stop()
        bare.cleanup()
