"""docker-compose.yml is checked by reading it: Docker's engine does not run here."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_the_whole_stack():
    services = compose()["services"]
    assert {"postgres", "redis", "web", "worker", "beat", "flower"} <= set(services)


def test_app_services_are_built_from_the_repo_and_wait_for_healthy_backends():
    services = compose()["services"]
    assert (ROOT / "Dockerfile").exists()
    for name in ("web", "worker", "beat", "flower", "migrate"):
        assert services[name]["build"] == "."
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_backends_have_health_checks_and_redis_never_evicts():
    services = compose()["services"]
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"]
    assert "noeviction" in services["redis"]["command"]


def test_beat_uses_the_database_scheduler_and_flower_has_basic_auth():
    services = compose()["services"]
    assert "django_celery_beat.schedulers:DatabaseScheduler" in services["beat"]["command"]
    assert "FLOWER_BASIC_AUTH" in services["flower"]["environment"]


def test_every_queue_has_a_consumer_like_the_procfile():
    services = compose()["services"]
    procfile = (ROOT / "Procfile").read_text()
    assert services["worker"]["command"][-2:] == ["-Q", "celery,sweeps"]
    assert "-Q ${WORKER_QUEUES:-celery,sweeps}" in procfile
    assert services["mailer"]["command"][-3:-1] == ["-Q", "delivery"]
    assert "-Q delivery" in procfile


def test_the_broker_keeps_its_queue_on_a_volume():
    redis = compose()["services"]["redis"]
    assert "--appendonly" in redis["command"] and "redisdata:/data" in redis["volumes"]
