import pytest


@pytest.mark.django_db
def test_healthz_reports_each_dependency_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok"},
        "gateway": "simulated",
    }


@pytest.mark.django_db
def test_healthz_names_the_broker_when_it_does_not_answer(client, settings):
    from devtools.embedded_redis import free_port

    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "unavailable"}


def test_healthz_names_the_database_when_it_does_not_answer(client, monkeypatch):
    from project import health

    monkeypatch.setattr(health, "database_ok", lambda: False)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unavailable", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_asks_rabbitmq_when_it_is_the_broker(client, settings):
    """An amqp:// broker is checked as AMQP (it was read as a Redis URL: a 500)."""
    from devtools.embedded_redis import free_port
    from tests.rabbitmq import URL, rabbitmq_answers

    settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unavailable"
    if not rabbitmq_answers():
        pytest.skip("no RabbitMQ on 127.0.0.1:5672 to see the answering case")
    settings.CELERY_BROKER_URL = URL
    assert client.get("/healthz").json()["checks"]["broker"] == "ok"
