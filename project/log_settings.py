"""Django's LOGGING, read from the environment: LOG_LEVEL and LOG_FORMAT.

One handler on the root logger, to stderr, in the plain format (`make run`'s
console) or JSON (LOG_FORMAT=json: compose, a log collector); each record gets
the bound ids (project/log_context.py) on its way out. The web, the workers,
the mailer and the beat all log through it: Celery is told not to install its
own (workers/log_context.py)."""

import environ
from django.core.exceptions import ImproperlyConfigured

LOG_FORMATS = ("plain", "json")


def logging_settings(env: environ.Env) -> dict:
    log_format = env.str("LOG_FORMAT", default="plain")
    if log_format not in LOG_FORMATS:
        raise ImproperlyConfigured(
            f"LOG_FORMAT: {log_format!r} is none of {', '.join(LOG_FORMATS)}"
        )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"log_context": {"()": "project.log_format.ContextFilter"}},
        "formatters": {
            "plain": {
                "()": "project.log_format.PlainFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            },
            "json": {"()": "project.log_format.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["log_context"],
            }
        },
        "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    }
