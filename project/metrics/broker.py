"""`celery_queue_length{queue}`: messages waiting in each broker queue, read
when scraped (Flower's page has no queue lengths). Redis keeps a queue as a
list (LLEN); RabbitMQ answers a passive declare with its message count."""

import redis
from django.conf import settings
from kombu import Connection
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from project.celery_settings import broker_kind
from project.tasks import QUEUE_OF

TIMEOUT_SECONDS = 1


def queue_names() -> list[str]:
    return sorted(set(QUEUE_OF.values()))


def _redis_lengths(url: str, names: list[str]) -> dict[str, int]:
    client = redis.Redis.from_url(
        url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
    )
    try:
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.llen(name)
        return dict(zip(names, pipe.execute(), strict=True))
    finally:
        client.close()


def _amqp_lengths(url: str, names: list[str]) -> dict[str, int]:
    lengths = {}
    with Connection(url, connect_timeout=TIMEOUT_SECONDS) as connection:
        channel = connection.channel()
        for name in names:
            try:
                lengths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except Exception:  # not declared yet: no worker has consumed it; a fresh channel
                channel = connection.channel()
    return lengths


class QueueLengthCollector(Collector):
    def collect(self):
        url = settings.CELERY_BROKER_URL
        names = queue_names()
        if broker_kind(url) == "redis":
            lengths = _redis_lengths(url, names)
        else:
            lengths = _amqp_lengths(url, names)
        family = GaugeMetricFamily(
            "celery_queue_length", "Messages waiting in each broker queue.", labels=["queue"]
        )
        for name, length in sorted(lengths.items()):
            family.add_metric([name], length)
        yield family
