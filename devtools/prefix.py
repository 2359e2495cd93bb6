"""`make run`'s output labels: copies standard input to standard output with
each line prefixed by a process's name (`python -m devtools.prefix web`).

It leaves the process it labels behind at once (a fork, then a session of its
own): it is neither that process's child, so no pool or health check counts it,
nor in its process group, so a stop signal for the group never cuts the last
lines short. It ends when the labelled process closes its output."""

import os
import sys


def main(name: str) -> None:
    if os.fork():
        os._exit(0)
    os.setsid()
    label = f"{name:<7}| ".encode()
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        out.write(label + line)
        out.flush()


if __name__ == "__main__":
    main(sys.argv[1])
