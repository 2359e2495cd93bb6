"""docker-compose.yml's monitoring profile (Prometheus, Grafana), checked by reading
it like test_compose.py does: the services exist only under the profile, mount
files the repo has, publish on loopback, share the metrics token with web, and
refuse to start without their secrets (their entrypoint scripts, run here)."""

import os
import subprocess

import yaml

from tests.project.test_compose import ROOT, compose, compose_config, interpolate

MONITORING = ("prometheus", "grafana")
CORE = ("postgres", "redis", "migrate", "web", "worker", "mailer", "beat", "flower")


def prometheus_config() -> dict:
    return yaml.safe_load((ROOT / "monitoring" / "prometheus" / "prometheus.yml").read_text())


def mounts(service: str) -> dict[str, str]:
    """Bind mounts of the repo's files: container path -> host path."""
    found = {}
    for volume in compose()["services"][service]["volumes"]:
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            found[target] = source
    return found


def test_prometheus_and_grafana_start_only_with_the_monitoring_profile():
    services = compose()["services"]
    for name in MONITORING:
        assert services[name]["profiles"] == ["monitoring"]
        assert services[name]["restart"] == "unless-stopped"
    for name in CORE:
        assert "profiles" not in services[name], name


def test_monitoring_mounts_files_the_repo_has_read_only():
    for name in MONITORING:
        repo_mounts = mounts(name)
        assert repo_mounts, name
        for source in repo_mounts.values():
            assert (ROOT / source).exists(), source
        for volume in compose()["services"][name]["volumes"]:
            if volume.startswith("./"):
                assert volume.endswith(":ro"), volume
    command = compose()["services"]["prometheus"]["command"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in command
    assert mounts("prometheus")["/etc/prometheus/prometheus.yml"] == (
        "./monitoring/prometheus/prometheus.yml"
    )
    # rule_files are relative to the config: alerts.yml beside it, in the container too.
    assert prometheus_config()["rule_files"] == ["alerts.yml"]
    assert (
        mounts("prometheus")["/etc/prometheus/alerts.yml"] == "./monitoring/prometheus/alerts.yml"
    )


def test_grafana_loads_the_boards_and_data_source_of_the_repo():
    grafana = mounts("grafana")
    assert grafana["/etc/grafana/provisioning"] == "./monitoring/grafana/provisioning"
    provisioning = ROOT / "monitoring" / "grafana" / "provisioning"
    [provider] = yaml.safe_load((provisioning / "dashboards" / "tickets.yml").read_text())[
        "providers"
    ]
    boards_in_repo = grafana[provider["options"]["path"]]
    assert (ROOT / boards_in_repo / "tickets.json").exists()
    [datasource] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["url"] == "http://prometheus:9090"
    home = compose()["services"]["grafana"]["environment"][
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"
    ]
    assert home == f"{provider['options']['path']}/tickets.json"


def test_prometheus_and_grafana_are_published_on_localhost_unless_asked():
    services = compose()["services"]
    for name, port, variable in (
        ("prometheus", 9090, "PROMETHEUS_BIND"),
        ("grafana", 3000, "GRAFANA_BIND"),
    ):
        [published] = services[name]["ports"]
        assert interpolate(published, {}) == f"127.0.0.1:{port}:{port}"
        assert interpolate(published, {variable: "0.0.0.0"}) == f"0.0.0.0:{port}:{port}"
    # The worker nodes' metrics pages stay on the compose network.
    assert "ports" not in services["worker"] and "ports" not in services["mailer"]


def test_prometheus_scrapes_the_ports_the_services_listen_on():
    services = compose()["services"]
    jobs = {job["job_name"]: job for job in prometheus_config()["scrape_configs"]}
    assert jobs["web"]["static_configs"][0]["targets"] == ["web:8000"]
    assert "0.0.0.0:8000" in services["web"]["command"]
    assert jobs["flower"]["static_configs"][0]["targets"] == ["flower:5555"]
    assert "--port=5555" in services["flower"]["command"]
    for node in ("worker", "mailer"):
        environment = services[node]["environment"]
        [dns] = jobs[node]["dns_sd_configs"]
        assert dns["names"] == [node]
        assert str(dns["port"]) == environment["WORKER_METRICS_PORT"]
        assert environment["METRICS_BIND"] == "0.0.0.0"


def test_web_and_prometheus_share_one_metrics_token():
    services = compose()["services"]
    # No value: passed on only when set, in both (unset, /metrics answers 404).
    assert services["web"]["environment"]["METRICS_TOKEN"] is None
    assert services["prometheus"]["environment"]["METRICS_TOKEN"] is None
    [web_job] = [j for j in prometheus_config()["scrape_configs"] if j["job_name"] == "web"]
    token_file = web_job["authorization"]["credentials_file"]
    assert f"> {token_file}" in entrypoint_script("prometheus")


def test_web_and_the_worker_nodes_keep_their_metrics_in_their_own_directory():
    services = compose()["services"]
    assert "python:project.gunicorn_conf" in services["web"]["command"]
    for name in ("web", "worker", "mailer"):
        assert services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/prometheus"
    # Nothing empties or creates the directory for the others: they keep to one process.
    for name in ("migrate", "beat", "flower"):
        assert "PROMETHEUS_MULTIPROC_DIR" not in services[name].get("environment", {})


def entrypoint_script(service: str) -> str:
    shell, flag, script, name = compose()["services"][service]["entrypoint"]
    assert (shell, flag, name) == ("/bin/sh", "-c", service)
    return script.replace("$$", "$")  # compose's escape for a literal $


def run_entrypoint(script: str, command: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["/bin/sh", "-c", script, "entrypoint", *command],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_prometheus_refuses_to_start_without_the_token_and_hands_it_over_in_a_file(tmp_path):
    # The container's paths swapped for ours, Prometheus for echo.
    token_file = tmp_path / "metrics_token"
    script = entrypoint_script("prometheus").replace("/prometheus/metrics_token", str(token_file))
    script = script.replace("exec /bin/prometheus", "exec echo")
    command = compose()["services"]["prometheus"]["command"]
    refused = run_entrypoint(script, command)
    assert refused.returncode == 1 and "METRICS_TOKEN" in refused.stderr
    assert not token_file.exists()
    started = run_entrypoint(script, command, METRICS_TOKEN="s3cret-token")
    assert started.returncode == 0, started.stderr
    assert started.stdout.split() == command
    assert token_file.read_text() == "s3cret-token"
    assert token_file.stat().st_mode & 0o077 == 0


def test_grafana_refuses_to_start_without_an_admin_password():
    # Grafana itself would fall back to admin/admin.
    environment = compose()["services"]["grafana"]["environment"]
    assert interpolate(environment["GF_SECURITY_ADMIN_PASSWORD"], {}) == ""
    script = entrypoint_script("grafana").replace("exec /run.sh", "exec echo started")
    refused = run_entrypoint(script, [], GF_SECURITY_ADMIN_PASSWORD="")
    assert refused.returncode == 1 and "GRAFANA_ADMIN_PASSWORD" in refused.stderr
    started = run_entrypoint(script, [], GF_SECURITY_ADMIN_PASSWORD="s3cret")
    assert started.returncode == 0 and started.stdout.strip() == "started"
    assert (
        interpolate(environment["GF_SECURITY_ADMIN_PASSWORD"], {"GRAFANA_ADMIN_PASSWORD": "x"})
        == "x"
    )


def test_docker_compose_config_asks_for_no_monitoring_secret(tmp_path):
    # A ${...:?} in a profile's service would fail here even without the profile.
    secrets = {"SECRET_KEY": "k", "FLOWER_BASIC_AUTH": "admin:s3cret"}
    plain = compose_config(tmp_path, **secrets)
    assert plain.returncode == 0, plain.stderr
    profiled = compose_config(tmp_path, COMPOSE_PROFILES="monitoring", **secrets)
    assert profiled.returncode == 0, profiled.stderr
    assert "prom/prometheus" in profiled.stdout and "grafana/grafana" in profiled.stdout
    assert "127.0.0.1:9090:9090" in profiled.stdout
