"""The alert rules, Prometheus's config and the Grafana board, checked without a
Prometheus or a Grafana running: every PromQL expression is parsed by a real
PromQL parser (promql-parser, Prometheus's grammar) and may name only the series
docs/metrics.md lists, Flower's, or Prometheus's own `up`; promtool, where it is
installed (.ci/run takes it from Debian's prometheus package), checks the rules
and the config as Prometheus would load them and runs the rules' unit tests."""

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "monitoring" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
GRAFANA_DIR = ROOT / "monitoring" / "grafana"
BOARD = GRAFANA_DIR / "dashboards" / "tickets.json"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"

# Flower's own page (flower/events.py); the histogram's series carry its suffixes.
FLOWER_SERIES = {
    "flower_events_total": "counter",
    "flower_task_runtime_seconds": "histogram",
    "flower_task_prefetch_time_seconds": "gauge",
    "flower_worker_prefetched_tasks": "gauge",
    "flower_worker_online": "gauge",
    "flower_worker_number_of_currently_executing_tasks": "gauge",
}


def exposed(name: str, kind: str) -> set[str]:
    """The series names prometheus-client writes for one metric."""
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    if kind == "counter":
        return {name if name.endswith("_total") else f"{name}_total"}
    return {name}


def documented_metrics() -> dict[str, str]:
    """docs/metrics.md's tables whose first column is `series`: name -> type."""
    metrics: dict[str, str] = {}
    in_series_table = False
    for line in (ROOT / "docs" / "metrics.md").read_text().splitlines():
        if not line.startswith("|"):
            in_series_table = False
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[0] == "series":
            in_series_table = True
            continue
        name = re.fullmatch(r"`(\w+)`", cells[0])
        if in_series_table and name:
            metrics[name.group(1)] = cells[1]
    return metrics


def known_series() -> set[str]:
    series = {"up"}
    for name, kind in {**documented_metrics(), **FLOWER_SERIES}.items():
        series |= exposed(name, kind)
    return series


GRAFANA_VARIABLES = re.compile(r"\$__(rate_interval|interval|range)\b")


def series_named(expr: str) -> set[str]:
    """Every metric name a PromQL expression selects (raises ValueError when it
    does not parse). Grafana's range variables stand in for a duration."""
    names: set[str] = set()

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            name = node.name or next(
                (m.value for m in node.matchers.matchers if m.name == "__name__"), None
            )
            assert name, f"a selector without a metric name in {expr!r}"
            names.add(name)

    promql_parser.walk(promql_parser.parse(GRAFANA_VARIABLES.sub("5m", expr)), visit)
    return names


def test_the_catalogue_is_read_from_docs_metrics_md():
    series = known_series()
    # A histogram is its buckets, sum and count; a counter ends in _total.
    assert {"http_request_duration_seconds_bucket", "http_request_duration_seconds_count"} <= series
    assert "http_request_duration_seconds" not in series
    assert {"tickets_purchases_total", "celery_tasks_total", "tickets_inventory_broken"} <= series
    assert "flower_worker_online" in series
    # Names in the table of where the pages are are not series.
    assert not any(name.startswith("web") for name in series)


def test_flower_still_serves_the_series_named_here():
    events = Path(importlib.util.find_spec("flower.events").origin).read_text()
    for name in FLOWER_SERIES:
        assert f"'{name}'" in events, name


def test_a_misspelt_or_unparsable_expression_is_caught():
    with pytest.raises(ValueError):
        series_named("sum(rate(tickets_purchases_total[5m])")
    assert "tickets_purchase_total" not in known_series()
    assert series_named('rate({__name__="up"}[$__rate_interval])') == {"up"}


# --- alert rules ---------------------------------------------------------------------------


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


RULES = alert_rules()


def runbook_anchors() -> set[str]:
    """GitHub's anchors for docs/runbooks.md's headings."""
    anchors = set()
    for line in RUNBOOKS.read_text().splitlines():
        heading = re.match(r"#+ (.+)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            anchors.add(slug.replace(" ", "-"))
    return anchors


def test_every_alert_the_issue_asks_for_is_there():
    names = {rule["alert"] for rule in RULES}
    assert {
        "TicketPurchaseStuck",
        "RefundPendingTooLong",
        "QueueGrowing",
        "WorkerHeartbeatMissing",
        "PurchaseCreateErrorRate",
        "WebhookBacklog",
        "InventoryEquationBroken",
        "InventoryAuditStale",
    } <= names
    assert len(names) == len(RULES), "two rules share an alert name"


@pytest.mark.parametrize("rule", RULES, ids=[rule["alert"] for rule in RULES])
def test_alert_expression_parses_and_names_only_exposed_series(rule):
    named = series_named(rule["expr"])
    assert named
    assert named <= known_series(), f"not in docs/metrics.md: {sorted(named - known_series())}"


@pytest.mark.parametrize("rule", RULES, ids=[rule["alert"] for rule in RULES])
def test_alert_waits_has_a_severity_and_links_its_runbook(rule):
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    assert rule["labels"]["severity"] in {"critical", "warning"}
    annotations = rule["annotations"]
    assert annotations["summary"] and annotations["description"]
    page, _, anchor = annotations["runbook_url"].partition("#")
    assert page == "docs/runbooks.md"
    assert anchor == rule["alert"].lower()
    assert anchor in runbook_anchors()


def test_every_runbook_entry_belongs_to_an_alert():
    entries = re.findall(r"^## (\w+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    assert sorted(entries) == sorted(rule["alert"] for rule in RULES)


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (.ci/run takes it from Debian's prometheus)")
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_promtool_loads_the_rules():
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(RULES)} rules found" in checked.stdout


def test_the_rules_fire_when_they_should_and_not_otherwise():
    # alerts_test.yml feeds series through the rules: what pages and what must not.
    tested = promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_promtool_loads_the_config_with_its_rules_and_token_file(tmp_path):
    # The config names the container's token file; here it is a file of our own.
    config = (PROMETHEUS_DIR / "prometheus.yml").read_text()
    assert "credentials_file: /prometheus/metrics_token" in config
    (tmp_path / "metrics_token").write_text("a-token")
    config = config.replace("/prometheus/metrics_token", str(tmp_path / "metrics_token"))
    (tmp_path / "prometheus.yml").write_text(config)
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    checked = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(RULES)} rules found" in checked.stdout


def test_prometheus_scrapes_every_page_docs_metrics_md_names():
    jobs = {
        job["job_name"]: job
        for job in yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())["scrape_configs"]
    }
    assert set(jobs) == {"web", "worker", "mailer", "flower"}
    assert jobs["web"]["authorization"]["type"] == "Bearer"
    assert jobs["web"]["metrics_path"] == "/metrics"
    assert yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())["rule_files"] == [
        "alerts.yml"
    ]


# --- the Grafana board ---------------------------------------------------------------------


def board() -> dict:
    return json.loads(BOARD.read_text())


def leaf_panels() -> list[dict]:
    panels = []
    for panel in board()["panels"]:
        panels.extend(panel.get("panels", []))
        if panel["type"] != "row":
            panels.append(panel)
    return panels


def board_targets() -> list[tuple[str, dict]]:
    return [
        (f"{panel['title']}/{target['refId']}", target)
        for panel in leaf_panels()
        for target in panel["targets"]
    ]


def provisioned_uid() -> str:
    [datasource] = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    return datasource["uid"]


def test_the_board_has_a_row_per_subject_and_panels_in_each():
    panels = board()["panels"]
    rows = [panel["title"] for panel in panels if panel["type"] == "row"]
    assert rows == ["Sale", "HTTP", "Payments", "Celery"]
    assert len(leaf_panels()) >= 20
    assert board()["uid"] and board()["title"]
    assert all(panel["targets"] for panel in leaf_panels())


@pytest.mark.parametrize(
    "target", [t for _, t in board_targets()], ids=[name for name, _ in board_targets()]
)
def test_panel_query_parses_and_names_only_exposed_series(target):
    named = series_named(target["expr"])
    assert named
    assert named <= known_series(), f"not in docs/metrics.md: {sorted(named - known_series())}"


def test_the_board_uses_the_provisioned_data_source_and_no_import_input():
    uid = provisioned_uid()
    data = board()
    for panel in leaf_panels():
        assert panel["datasource"]["uid"] == uid, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
    for variable in data["templating"]["list"]:
        assert variable["datasource"]["uid"] == uid
        metric = re.fullmatch(r"label_values\((\w+), ?(\w+)\)", variable["definition"])
        assert metric and metric.group(1) in known_series()
    text = BOARD.read_text()
    assert "__inputs" not in text and "${DS_" not in text


def test_panel_ids_are_unique_and_panels_lie_side_by_side_without_overlap():
    panels = board()["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        box = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(box), panel["title"]
        assert box["w"] > 0 and box["h"] > 0 and box["x"] + box["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(box["x"], box["x"] + box["w"])
            for y in range(box["y"], box["y"] + box["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
