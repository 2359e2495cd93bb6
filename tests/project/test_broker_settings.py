"""The broker is CELERY_BROKER_URL (Redis unless set), with the transport
options of its kind: Redis's visibility timeout and restore sweep, RabbitMQ's
publisher confirms."""

import environ
import pytest

from project.celery_settings import broker_kind, celery_settings


def settings_for(monkeypatch, broker_url: str | None) -> dict:
    if broker_url is None:
        monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    else:
        monkeypatch.setenv("CELERY_BROKER_URL", broker_url)
    return celery_settings(
        environ.Env(), redis_url="redis://127.0.0.1:6379/0", connect_timeout=2, socket_timeout=5
    )


def test_without_a_broker_url_the_broker_is_redis(monkeypatch):
    celery = settings_for(monkeypatch, None)
    assert celery["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/0"
    assert celery["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] == 3600
    assert celery["BROKER_REDELIVERY_SECONDS"] == 3600


def test_rabbitmq_confirms_each_publish_and_results_stay_in_redis(monkeypatch):
    celery = settings_for(monkeypatch, "amqp://guest:guest@rabbit:5672//")
    assert celery["CELERY_BROKER_URL"] == "amqp://guest:guest@rabbit:5672//"
    assert celery["CELERY_BROKER_TRANSPORT_OPTIONS"] == {"confirm_publish": True}
    assert celery["BROKER_REDELIVERY_SECONDS"] == 1800  # RabbitMQ's consumer_timeout
    assert celery["CELERY_RESULT_BACKEND"] == "redis://127.0.0.1:6379/0"


def test_a_broker_of_no_known_kind_stops_at_start_up():
    assert broker_kind("rediss://cache:6380/1") == "redis"
    assert broker_kind("pyamqp://rabbit//") == "amqp"
    with pytest.raises(ValueError, match="redis:// or amqp://"):
        broker_kind("sqs://queue")
