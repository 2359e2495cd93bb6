"""`make run`: every process of the stack in the foreground, under supervisor.

With `--prepare` it first migrates, collects static files, seeds demo data and
creates the admin from DJANGO_SUPERUSER_*. Then it runs the Procfile's
processes; when REDIS_URL is unset it adds an embedded Redis on a free port and
points the others at it. A process that exits is started again (a worker that
died on a broker reconnect, a crashed web server), so one process never takes
the stack down; Ctrl-C (or SIGTERM) stops them all. Each line of output is
prefixed with its process's name.
"""

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from honcho.environ import parse_procfile

from devtools.embedded_redis import free_port, redis_command

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
PREPARE_COMMANDS = [
    ["migrate", "--noinput"],
    ["collectstatic", "--noinput", "--verbosity", "0"],
    ["seed_demo"],
    ["ensure_superuser"],
]
SUPERVISOR = """\
[supervisord]
nodaemon=true
logfile=/dev/stdout
logfile_maxbytes=0
loglevel=info
pidfile={run}/supervisord.pid
childlogdir={run}

[unix_http_server]
file={run}/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{run}/supervisor.sock
"""
# Started again whenever it exits; its whole process group (gunicorn's workers,
# Celery's pool) is stopped with it.
PROGRAM = """
[program:{name}]
command=/bin/bash {script}
directory={root}
priority={priority}
autorestart=true
startsecs=3
startretries=100
stopasgroup=true
killasgroup=true
stopwaitsecs=10
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
redirect_stderr=true
"""


def prepare(env: dict) -> None:
    for command in PREPARE_COMMANDS:
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)


def program_script(name: str, command: str) -> str:
    """Runs a Procfile line as its process (exec keeps the pid supervisor
    watches), its output labelled with its name (devtools/prefix.py)."""
    labeller = f"{shlex.quote(sys.executable)} -u -m devtools.prefix {shlex.quote(name)}"
    return f"exec {command} > >({labeller}) 2>&1\n"


def supervisor_config(programs: dict[str, str], run_dir: Path) -> str:
    parts = [SUPERVISOR.format(run=run_dir)]
    for priority, (name, command) in enumerate(programs.items(), start=1):
        script = run_dir / f"{name}.sh"
        script.write_text(program_script(name, command))
        parts.append(PROGRAM.format(name=name, script=script, root=ROOT, priority=priority))
    return "".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prepare", action="store_true", help="migrate and seed first")
    args = parser.parse_args()
    env = dict(os.environ)
    # The Procfile's gunicorn and celery are the ones installed beside this Python.
    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    run_dir = Path(env.get("RUN_DIR", RUN_DIR))
    run_dir.mkdir(parents=True, exist_ok=True)
    programs: dict[str, str] = {}
    if not env.get("REDIS_URL"):
        port = free_port()
        workdir = ROOT / ".redis"
        workdir.mkdir(exist_ok=True)
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        programs["redis"] = shlex.join(redis_command(port, str(workdir)))
        print(f"REDIS_URL unset: an embedded Redis will listen on port {port}", flush=True)
    if args.prepare:
        try:
            prepare(env)
        except subprocess.CalledProcessError as exc:
            print(f"make run: `manage.py {' '.join(exc.cmd[2:])}` failed", file=sys.stderr)
            return exc.returncode
    programs.update(parse_procfile((ROOT / "Procfile").read_text()).processes)
    config = run_dir / "supervisord.conf"
    config.write_text(supervisor_config(programs, run_dir))
    supervisord = str(bin_dir / "supervisord")
    os.execve(supervisord, [supervisord, "--nodaemon", "--configuration", str(config)], env)


if __name__ == "__main__":
    sys.exit(main())
