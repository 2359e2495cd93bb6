"""Running one call from many threads at the same instant, for the tests that
prove a limit holds under real concurrency (each thread its own database
connection, released when it is done)."""

import threading
from collections.abc import Callable

from django.db import connection


def at_once(call: Callable[[int], object], *, threads: int = 10, timeout: float = 60) -> list:
    """Calls `call(n)` for n in range(threads), all released by one barrier;
    answers what each returned or raised, in order of n."""
    barrier = threading.Barrier(threads)
    results: list = [None] * threads

    def run(n: int) -> None:
        try:
            barrier.wait()
            results[n] = call(n)
        except Exception as error:  # the caller asserts on it
            results[n] = error
        finally:
            connection.close()

    running = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=timeout)
    return results
