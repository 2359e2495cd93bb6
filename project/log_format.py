"""How a log line looks: LOG_FORMAT `plain` (the default, for a console) or
`json` (one object a line, for a log collector). Both carry the ids bound in
project/log_context.py, which `ContextFilter` puts on every record; the
settings wire them up (project/log_settings.py)."""

import logging
from datetime import UTC, datetime

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter

from project import log_context

# The plain format's short names for the bound ids, in this order; the task's
# name is left to Celery's own lines ("Task name[id] received").
PLAIN_NAMES = {
    "request_id": "req",
    "purchase_id": "purchase",
    "ticket_id": "ticket",
    "task_id": "task",
}


class ContextFilter(logging.Filter):
    """Puts the bound ids on the record (a value the call gave in `extra`
    wins). On the handler, so it sees every record, whichever logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = log_context.current()
        if ids:
            fields = record.__dict__
            for name, value in ids.items():
                fields.setdefault(name, value)
        return True


class PlainFormatter(logging.Formatter):
    """`time LEVEL logger message [req=... purchase=...]`: the bracket only
    when an id is known."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = record.__dict__
        ids = " ".join(
            f"{short}={fields[name]}" for name, short in PLAIN_NAMES.items() if name in fields
        )
        return f"{line} [{ids}]" if ids else line


class JsonFormatter(OrjsonFormatter):
    """`{"time", "level", "logger", "message", <ids>, <extra>, "exc_info"}`,
    one object a line, encoded by orjson."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        # Django puts the request object on its request lines: its repr says
        # nothing the message does not.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request"])
        super().__init__(**kwargs)

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)
