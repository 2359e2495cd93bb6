"""The RabbitMQ of the tests of the second broker: the run's own broker when
the run is on RabbitMQ (`make test-rabbitmq` sets CELERY_BROKER_URL, perhaps
to a virtual host of the run's own), else the machine's (127.0.0.1:5672,
guest/guest). Tests that need it skip, saying so, where none answers."""

import os
import socket
from urllib.parse import urlsplit

from project.celery_settings import broker_kind

MACHINE_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _url() -> str:
    configured = os.environ.get("CELERY_BROKER_URL", "")
    if configured and broker_kind(configured) == "amqp":
        return configured
    return MACHINE_URL


URL = _url()


def rabbitmq_answers(url: str = URL) -> bool:
    address = urlsplit(url)
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((address.hostname or "127.0.0.1", address.port or 5672)) == 0
