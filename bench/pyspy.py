"""Sampling profiles of the live stack with py-spy (BENCH_PROFILE=1).

py-spy attaches to gunicorn's master and to each Celery worker node with
`--subprocesses`, so every forked worker is sampled, and writes collapsed
stacks. `summarize()` turns them into the share of samples (idle excluded)
spent in each layer and in the heaviest functions, which is what names a
bottleneck.
"""

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY = str(Path(sys.executable).parent / "py-spy")
RATE = 100

# First match wins, checked from the innermost frame outwards: what a sample is
# doing right now, by layer.
LAYERS = (
    ("postgres round trip", ("psycopg/cursor.py", "psycopg/connection.py", "psycopg/generators")),
    ("redis round trip", ("redis/connection.py", "redis/_parsers")),
    ("qr image", ("segno/", "png.py", "zlib")),
    ("e-mail build", ("django/core/mail/", "email/")),
    ("templates", ("django/template/",)),
    ("ticket code generation", ("tickets/codes.py", "secrets.py", "random.py")),
    ("django orm", ("django/db/",)),
    ("celery/kombu", ("celery/", "kombu/", "billiard/")),
    ("drf", ("rest_framework/",)),
    (
        "django request/response",
        (
            "django/core/handlers",
            "django/middleware",
            "django/http",
            "django/urls",
            "django/contrib/",
            "corsheaders/",
            "whitenoise/",
            "django/utils/",
        ),
    ),
    ("gunicorn", ("gunicorn/",)),
    ("tickets/payments code", ("tickets/", "payments/", "workers/", "project/")),
    ("json", ("json/",)),
    ("logging", ("logging/",)),
)


class Profiler:
    def __init__(self, logdir: Path, pids: dict[str, list[int]]) -> None:
        self.logdir = logdir
        self.targets = [(kind, pid) for kind in ("web", "worker") for pid in pids.get(kind, [])]
        self.processes: list[tuple[str, Path, subprocess.Popen]] = []

    def start(self) -> None:
        for kind, pid in self.targets:
            out = self.logdir / f"pyspy-{kind}-{pid}.txt"
            command = [PY_SPY, "record", "--pid", str(pid), "--subprocesses", "--rate", str(RATE),
                       "--format", "raw", "--output", str(out), "--nonblocking"]  # fmt: skip
            log = (self.logdir / f"pyspy-{kind}-{pid}.log").open("w")
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            self.processes.append((kind, out, process))

    def stop(self) -> dict:
        """Ends the recordings (SIGINT makes py-spy write its file) and sums them up."""
        for _, _, process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        summaries = {}
        for kind, out, process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
            if out.exists():
                summaries[kind] = summarize(out.read_text())
                summaries[kind]["file"] = str(out)
        self.processes.clear()
        return summaries

    def kill(self) -> None:
        for _, _, process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self.processes.clear()


def _parse(text: str):
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def layer_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for layer, markers in LAYERS:
            if any(marker in frame for marker in markers):
                return layer
    return "other"


def summarize(text: str, top: int = 25) -> dict:
    """Samples by layer and by function (self, and inclusive for project code), in %.

    py-spy leaves out threads waiting in a system call (no --idle), so the samples
    are where CPU time went; waiting on PostgreSQL or Redis is not in them.
    """
    busy = 0
    layers: Counter = Counter()
    own: Counter = Counter()
    inclusive: Counter = Counter()
    for frames, count in _parse(text):
        busy += count
        layers[layer_of(frames)] += count
        own[frames[-1]] += count
        for frame in set(frames):
            if "(tickets/" in frame or "(workers/" in frame or "(payments/" in frame:
                inclusive[frame] += count

    def share(counter: Counter) -> dict:
        return {name: round(100 * n / busy, 1) for name, n in counter.most_common(top)}

    return {
        "samples": busy,
        "seconds_of_cpu": round(busy / RATE, 1),
        "layers_pct": share(layers),
        "self_pct": share(own),
        "project_inclusive_pct": share(inclusive),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(summarize(Path(sys.argv[1]).read_text()), indent=2))
