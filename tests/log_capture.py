"""What the root logger writes in LOG_FORMAT=json, read back as objects: the
handler LOGGING configures (its filter and formatter) on a string."""

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from project.log_format import ContextFilter, JsonFormatter


@contextmanager
def json_log() -> Iterator[Callable[[], list[dict]]]:
    """`with json_log() as lines: ...; lines()` is every line written meanwhile."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
