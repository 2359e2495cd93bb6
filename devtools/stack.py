"""`make run`: every process of the stack in the foreground, under honcho.

With `--prepare` it first migrates, collects static files, seeds demo data and
creates the admin from DJANGO_SUPERUSER_*. Then it runs the Procfile's
processes; when REDIS_URL is unset it adds an embedded Redis on a free port and
points the others at it. Ctrl-C (or SIGTERM) stops them all.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from honcho.environ import parse_procfile
from honcho.manager import Manager

from devtools.embedded_redis import free_port, redis_command

ROOT = Path(__file__).resolve().parent.parent
PREPARE_COMMANDS = [
    ["migrate", "--noinput"],
    ["collectstatic", "--noinput", "--verbosity", "0"],
    ["seed_demo"],
    ["ensure_superuser"],
]


def prepare(env: dict) -> None:
    for command in PREPARE_COMMANDS:
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prepare", action="store_true", help="migrate and seed first")
    args = parser.parse_args()
    env = dict(os.environ)
    # The Procfile's gunicorn and celery are the ones installed beside this Python.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    manager = Manager()
    if not env.get("REDIS_URL"):
        port = free_port()
        workdir = ROOT / ".redis"
        workdir.mkdir(exist_ok=True)
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        command = " ".join(arg or "''" for arg in redis_command(port, str(workdir)))
        manager.add_process("redis", command, env=env)
        print(f"REDIS_URL unset: an embedded Redis will listen on port {port}", flush=True)
    if args.prepare:
        try:
            prepare(env)
        except subprocess.CalledProcessError as exc:
            print(f"make run: `manage.py {' '.join(exc.cmd[2:])}` failed", file=sys.stderr)
            return exc.returncode
    procfile = parse_procfile((ROOT / "Procfile").read_text())
    for name, entry in procfile.processes.items():
        manager.add_process(name, entry, env=env, cwd=str(ROOT))
    manager.loop()
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
