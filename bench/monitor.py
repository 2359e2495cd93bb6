"""Samples memory and CPU of every process kind while the bench runs.

Kinds: the stack's own (web, worker, beat, flower, each with its forked
children), `loadgen` (this process: load generator and sampler), `postgres`
(memory: the backends connected to the bench database; CPU: the whole server,
exited backends included) and `redis` (the server, shared with whatever else
uses it). `other` is the CPU the rest of the machine used
meanwhile: other people's test suites make the figures noisy, and this says
how much.
"""

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil
import psycopg

SAMPLE_SECONDS = 0.25
# The server side of a sale: what `cpu_s_server` (and the `server_cpu_ms_per_*`
# figures) add up. Not the load generator, not Flower, not the rest of the machine.
SERVER_KINDS = ("web", "worker", "mailer", "beat", "postgres", "redis")


@dataclass
class ProcessSample:
    kind: str
    cpu_seconds: float = 0.0
    peak_rss: int = 0


@dataclass
class Snapshot:
    at: float
    cpu_by_kind: dict[str, float]
    system_busy: float


@dataclass
class Monitor:
    roots: Callable[[], dict[str, list[int]]]
    postgres_pids: Callable[[], list[int]]
    redis_port: int = 6379
    # The PostgreSQL server's postmaster (`postmaster_of`); without it, found from a
    # live backend of `postgres_pids`, which is none before the first connection.
    postmaster: psutil.Process | None = None
    processes: dict[int, ProcessSample] = field(default_factory=dict)
    peak_rss_by_kind: dict[str, int] = field(default_factory=dict)
    peak_processes_by_kind: dict[str, int] = field(default_factory=dict)
    _handles: dict[int, psutil.Process] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _postgres: list[int] = field(default_factory=list)
    _postmaster_process: psutil.Process | None = None

    def start(self) -> "Monitor":
        self._thread = threading.Thread(target=self._run, name="bench-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def snapshot(self) -> Snapshot:
        if not self._postgres:
            self._postgres = self.postgres_pids()
        self.sample()
        with self._lock:
            cpu: dict[str, float] = {}
            for sample in self.processes.values():
                if sample.kind != "postgres":
                    cpu[sample.kind] = cpu.get(sample.kind, 0.0) + sample.cpu_seconds
        cpu["postgres"] = self._postgres_cluster_cpu()
        times = psutil.cpu_times()
        busy = times.user + times.system + getattr(times, "nice", 0) + getattr(times, "irq", 0)
        busy += getattr(times, "softirq", 0) + getattr(times, "steal", 0)
        return Snapshot(time.time(), cpu, busy)

    def _postgres_cluster_cpu(self) -> float:
        """CPU of the whole PostgreSQL server: the postmaster, its live backends and
        the ones that have exited (reaped into its children times). A backend that
        lives for one connection is invisible to sampling, and a worker that
        reconnects for every task makes thousands of them."""
        postmaster = self._postmaster()
        if postmaster is None:
            return 0.0
        try:
            own = postmaster.cpu_times()
            total = own.user + own.system + own.children_user + own.children_system
            for child in postmaster.children():
                with contextlib.suppress(psutil.Error):
                    times = child.cpu_times()
                    total += times.user + times.system
            return total
        except psutil.Error:
            return 0.0

    def _postmaster(self) -> psutil.Process | None:
        """Found once, from any live backend: backends come and go, it stays."""
        if self._postmaster_process is None and self.postmaster is not None:
            self._postmaster_process = self.postmaster
        if self._postmaster_process is None:
            for pid in self._postgres:
                with contextlib.suppress(psutil.Error):
                    self._postmaster_process = psutil.Process(pid).parent()
                    break
        return self._postmaster_process

    def _run(self) -> None:
        postgres_refresh = 0.0
        while not self._stop.wait(SAMPLE_SECONDS):
            now = time.monotonic()
            if now >= postgres_refresh:
                try:
                    self._postgres = self.postgres_pids()
                except Exception as exc:  # a sampler must not end the run; say why it is blind
                    print(f"bench monitor: postgres backends unknown: {exc}", flush=True)
                postgres_refresh = now + 1.0
            self.sample()

    def sample(self) -> None:
        members = self._members()
        with self._lock:
            rss_by_kind: dict[str, int] = {}
            count_by_kind: dict[str, int] = {}
            for pid, kind in members.items():
                handle = self._handle(pid)
                if handle is None:
                    continue
                try:
                    with handle.oneshot():
                        cpu = handle.cpu_times()
                        rss = handle.memory_info().rss
                except psutil.Error:
                    continue
                sample = self.processes.setdefault(pid, ProcessSample(kind))
                sample.cpu_seconds = cpu.user + cpu.system
                sample.peak_rss = max(sample.peak_rss, rss)
                rss_by_kind[kind] = rss_by_kind.get(kind, 0) + rss
                count_by_kind[kind] = count_by_kind.get(kind, 0) + 1
            for kind, rss in rss_by_kind.items():
                self.peak_rss_by_kind[kind] = max(self.peak_rss_by_kind.get(kind, 0), rss)
                self.peak_processes_by_kind[kind] = max(
                    self.peak_processes_by_kind.get(kind, 0), count_by_kind[kind]
                )

    def _members(self) -> dict[int, str]:
        members = {os.getpid(): "loadgen"}
        for kind, pids in self.roots().items():
            for pid in pids:
                members[pid] = kind
                try:
                    for child in psutil.Process(pid).children(recursive=True):
                        members[child.pid] = kind
                except psutil.Error:
                    pass
        for pid in self._postgres:
            members[pid] = "postgres"
        redis = _redis_server_pid(self.redis_port)
        if redis:
            members[redis] = "redis"
        return members

    def _handle(self, pid: int) -> psutil.Process | None:
        handle = self._handles.get(pid)
        if handle is None:
            try:
                handle = self._handles[pid] = psutil.Process(pid)
            except psutil.Error:
                return None
        return handle

    def process_kind_report(self) -> dict[str, dict]:
        with self._lock:
            report: dict[str, dict] = {}
            for sample in self.processes.values():
                entry = report.setdefault(
                    sample.kind, {"peak_rss_mb": 0.0, "peak_process_rss_mb": 0.0, "processes": 0}
                )
                entry["peak_process_rss_mb"] = max(
                    entry["peak_process_rss_mb"], round(sample.peak_rss / 2**20, 1)
                )
            for kind, rss in self.peak_rss_by_kind.items():
                report[kind]["peak_rss_mb"] = round(rss / 2**20, 1)
                report[kind]["processes"] = self.peak_processes_by_kind.get(kind, 0)
        return report


def postgres_backends(database_url: str) -> Callable[[], list[int]]:
    """The pids of the backends connected to the database (for memory by kind)."""

    def pids() -> list[int]:
        with psycopg.connect(database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            ).fetchall()
        return [row[0] for row in rows]

    return pids


def postmaster_of(database_url: str) -> psutil.Process | None:
    """The server's postmaster, the parent of a backend asked while it is connected:
    its CPU (children included) is the whole server's, whoever is connected when."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:
            return psutil.Process(backend).parent()
        except psutil.Error:
            return None


_REDIS_PIDS: dict[int, int] = {}


def _redis_server_pid(port: int) -> int | None:
    """The local redis-server listening on `port` (found once, by its command line)."""
    if port not in _REDIS_PIDS:
        _REDIS_PIDS[port] = 0
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = " ".join(process.info.get("cmdline") or []).strip()
            if process.info.get("name") == "redis-server" and cmdline.endswith(f":{port}"):
                _REDIS_PIDS[port] = process.pid
                break
    return _REDIS_PIDS[port] or None


def cpu_between(start: Snapshot, end: Snapshot) -> dict:
    """CPU seconds each kind used between two snapshots, and the machine's rest."""
    kinds = sorted(set(start.cpu_by_kind) | set(end.cpu_by_kind))
    used = {
        kind: round(end.cpu_by_kind.get(kind, 0.0) - start.cpu_by_kind.get(kind, 0.0), 2)
        for kind in kinds
    }
    busy = end.system_busy - start.system_busy
    ours = sum(used.values())
    wall = max(end.at - start.at, 1e-9)
    return {
        "wall_s": round(wall, 2),
        "cpu_s_by_kind": used,
        "cpu_s_server": round(sum(used.get(kind, 0.0) for kind in SERVER_KINDS), 2),
        "cpu_s_ours": round(ours, 2),
        "cpu_s_other": round(max(0.0, busy - ours), 2),
        "machine_busy_pct": round(100 * busy / (wall * (psutil.cpu_count() or 1)), 1),
    }


def cpu_ms_per(cpu: dict, count: int) -> float | None:
    """Server CPU (`cpu_between`'s `cpu_s_server`) in milliseconds per purchase or buyer."""
    return round(1000 * cpu["cpu_s_server"] / count, 2) if count else None
