"""docker-compose.yml is checked by reading it (Docker's engine does not run
here), and by `docker compose config` when a compose binary is installed (it
needs no daemon)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
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


def test_every_long_running_service_is_restarted_when_it_exits():
    services = compose()["services"]
    for name in ("postgres", "redis", "web", "worker", "mailer", "beat", "flower"):
        assert services[name]["restart"] == "unless-stopped", name


def test_the_pipeline_worker_runs_threads_like_the_procfile():
    # A broker reconnect cannot leave a thread pool with a dead child (Celery issue 9250).
    assert "--pool=threads" in compose()["services"]["worker"]["command"]
    assert "--pool=${WORKER_POOL:-threads}" in (ROOT / "Procfile").read_text()


def test_the_app_gets_the_proxy_settings_from_the_environment():
    # Behind a proxy every buyer would otherwise be the proxy's address.
    environment = compose()["services"]["web"]["environment"]
    assert {"NUM_PROXIES", "TRUSTED_PROXIES"} <= set(environment)


def test_beat_uses_the_database_scheduler_and_flower_has_basic_auth():
    services = compose()["services"]
    assert "django_celery_beat.schedulers:DatabaseScheduler" in services["beat"]["command"]
    assert "FLOWER_BASIC_AUTH" in services["flower"]["environment"]


def test_every_queue_has_a_consumer_like_the_procfile():
    services = compose()["services"]
    procfile = (ROOT / "Procfile").read_text()
    assert services["worker"]["command"][-2:] == ["-Q", "celery,sweeps,cancellations"]
    assert "-Q ${WORKER_QUEUES:-celery,sweeps,cancellations}" in procfile
    assert services["mailer"]["command"][-3:-1] == ["-Q", "delivery"]
    assert "-Q delivery" in procfile


def test_the_broker_keeps_its_queue_on_a_volume():
    redis = compose()["services"]["redis"]
    assert "--appendonly" in redis["command"] and "redisdata:/data" in redis["volumes"]


# --- fails closed --------------------------------------------------------------------------

VARIABLE = re.compile(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}")


class Missing(Exception):
    pass


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}`."""

    def one(match: re.Match) -> str:
        name, kind, rest = match.groups()
        if env.get(name):
            return env[name]
        if kind == ":?":
            raise Missing(f"{name}: {rest}")
        return rest or ""

    return VARIABLE.sub(one, value)


def app_env() -> dict:
    return compose()["x-app"]["environment"]


def test_secrets_have_no_default_and_the_error_names_them():
    flower = compose()["services"]["flower"]["environment"]
    for name in ("SECRET_KEY", "FLOWER_BASIC_AUTH"):
        with pytest.raises(Missing, match=name):
            interpolate(flower[name], {})
        assert interpolate(flower[name], {name: "given"}) == "given"
    assert "change-me" not in (ROOT / "docker-compose.yml").read_text()


def test_flower_is_published_on_localhost_unless_flower_bind_says_otherwise():
    [port] = compose()["services"]["flower"]["ports"]
    assert interpolate(port, {}) == "127.0.0.1:5555:5555"
    assert interpolate(port, {"FLOWER_BIND": "0.0.0.0"}) == "0.0.0.0:5555:5555"


def test_simulation_is_off_and_the_simulated_gateway_refused_unless_asked_for():
    env = app_env()
    assert interpolate(env["DEBUG"], {}) == "false"
    assert interpolate(env["SIMULATED_GATEWAY_ALLOWED"], {}) == "false"
    # No value: compose passes it on only when set; unset, settings follow DEBUG.
    assert env["PAYMENT_SIMULATION_ENABLED"] is None
    assert interpolate(env["PAYMENT_GATEWAY"], {}) == "simulated"


def compose_command() -> list[str] | None:
    """`docker compose` (v2 plugin) or `docker-compose`, if one works here."""
    candidates = [["docker", "compose"], ["docker-compose"]]
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return command
    return None


def compose_config(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    command = compose_command()
    if command is None:
        pytest.skip("no docker compose binary on this machine")
    # A copy in an empty folder: a developer's .env beside the real file is not read.
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    unset = ("SECRET_KEY", "FLOWER_BASIC_AUTH", "FLOWER_BIND", "COMPOSE_FILE", "COMPOSE_ENV_FILES")
    unset += ("COMPOSE_PROFILES", "METRICS_TOKEN", "GRAFANA_ADMIN_PASSWORD")
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [*command, "config"],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_docker_compose_config_fails_without_secret_key(tmp_path):
    refused = compose_config(tmp_path, FLOWER_BASIC_AUTH="admin:s3cret")
    assert refused.returncode != 0
    assert "SECRET_KEY" in refused.stderr
    no_flower_auth = compose_config(tmp_path, SECRET_KEY="k")
    assert no_flower_auth.returncode != 0
    assert "FLOWER_BASIC_AUTH" in no_flower_auth.stderr
    accepted = compose_config(tmp_path, SECRET_KEY="k", FLOWER_BASIC_AUTH="admin:s3cret")
    assert accepted.returncode == 0, accepted.stderr
    assert "127.0.0.1" in accepted.stdout


def test_every_app_process_reports_to_sentry_only_when_a_dsn_is_given():
    # The beat checks a sweep in, the worker that runs it checks it out: both need it.
    for name in ("web", "worker", "mailer", "beat"):
        environment = compose()["services"][name]["environment"]
        assert "SENTRY_DSN" in environment
        assert environment["SENTRY_DSN"] is None  # the host's value, never a default


# --- the second broker ---------------------------------------------------------------------


def test_rabbitmq_is_a_broker_to_opt_into_with_a_profile():
    """`--profile rabbitmq` adds the node; CELERY_BROKER_URL moves the broker to it,
    while REDIS_URL keeps the cache, results and caps in Redis."""
    services = compose()
    rabbitmq = services["services"]["rabbitmq"]
    assert rabbitmq["profiles"] == ["rabbitmq"]
    assert rabbitmq["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert "rabbitmqdata:/var/lib/rabbitmq" in rabbitmq["volumes"]
    assert "rabbitmqdata" in services["volumes"]
    assert rabbitmq["hostname"]  # its data lives under rabbit@<hostname>
    user = rabbitmq["environment"]["RABBITMQ_DEFAULT_USER"]
    password = rabbitmq["environment"]["RABBITMQ_DEFAULT_PASS"]
    for name, service in services["services"].items():
        if name not in ("rabbitmq", "prometheus", "grafana"):  # the profiles' own
            assert "profiles" not in service, name  # the default stack stays as it was

    env = app_env()
    assert interpolate(env["CELERY_BROKER_URL"], {}) == env["REDIS_URL"]
    chosen = f"amqp://{user}:{password}@rabbitmq:5672//"
    assert interpolate(env["CELERY_BROKER_URL"], {"CELERY_BROKER_URL": chosen}) == chosen
    assert (
        "CELERY_BROKER_URL=amqp://tickets:tickets@rabbitmq:5672//"
        in (ROOT / "docker-compose.yml").read_text()
    )  # the comment says how, with the node's own user
