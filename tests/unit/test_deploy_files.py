"""Static checks of deploy/: Grafana dashboards and provisioning, the compose stack.

The dashboards' queries are proven against a real Prometheus in
tests/integration/test_dashboards_live.py; here: structure, datasource, compose syntax.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.tools import require_tool

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
DATASOURCE_UID = "servicepulse-prometheus"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def test_both_dashboards_exist() -> None:
    assert {path.name for path in DASHBOARDS} >= {
        "servicepulse-overview.json",
        "servicepulse-agency.json",
    }


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_dashboard_structure(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] and len(dashboard["uid"]) <= 40
    panels = _panels(dashboard)
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    for panel in panels:
        title = panel.get("title")
        assert title, f"{path.name}: panel {panel['id']} has no title"
        assert panel.get("datasource", {}).get("uid") == DATASOURCE_UID, (path.name, title)
        if panel["type"] == "row":
            continue  # Grafana's schema gives rows no description
        assert panel.get("description"), f"{path.name}: {title!r} has no description"
        assert panel.get("targets"), f"{path.name}: {title!r} has no targets"
        for target in panel["targets"]:
            assert target.get("datasource", {}).get("uid") == DATASOURCE_UID, (path.name, title)
            assert target.get("expr"), f"{path.name}: {title!r} target without expr"
            assert target["expr"].count("(") == target["expr"].count(")"), (path.name, title)
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == DATASOURCE_UID, variable["name"]


def test_panel_titles_unique_per_dashboard() -> None:
    for path in DASHBOARDS:
        titles = [p["title"] for p in _panels(json.loads(path.read_text())) if p["type"] != "row"]
        duplicates = {title for title in titles if titles.count(title) > 1}
        assert not duplicates, f"{path.name}: {duplicates}"


def test_agency_dashboard_variables_filter_its_panels() -> None:
    dashboard = json.loads((DEPLOY / "grafana/dashboards/servicepulse-agency.json").read_text())
    variables = [variable["name"] for variable in dashboard["templating"]["list"]]
    assert variables == ["agency", "service", "channel", "standard", "window"]
    agency = dashboard["templating"]["list"][0]
    assert agency["query"]["query"] == "label_values(servicepulse_events_consumed_total, agency)"
    exprs = [t["expr"] for p in _panels(dashboard) for t in p.get("targets", [])]
    for name in variables:
        assert any(f"${name}" in expr for expr in exprs), f"no panel uses ${name}"
    for expr in exprs:
        assert '"$agency"' in expr, f"not filtered by agency: {expr}"
    # Every variable a query names is defined (no typo'd $agnecy silently matching nothing).
    builtin = {"__rate_interval", "__interval", "__range"}
    for expr in exprs:
        for used in re.findall(r"\$(\w+)", expr):
            assert used in variables or used in builtin, f"undefined ${used} in {expr}"


def test_grafana_provisioning_parses() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    [source] = datasources["datasources"]
    assert source["uid"] == DATASOURCE_UID
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    dashboards = yaml.safe_load((provisioning / "dashboards" / "servicepulse.yml").read_text())
    [provider] = dashboards["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_compose_mounts_what_grafana_and_prometheus_expect() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"kafka", "worker-1", "worker-2", "prometheus", "alertmanager", "grafana"} <= set(
        services
    )
    grafana_mounts = "\n".join(services["grafana"]["volumes"])
    assert "../grafana/provisioning:/etc/grafana/provisioning" in grafana_mounts
    assert "../grafana/dashboards:/var/lib/grafana/dashboards" in grafana_mounts
    prometheus = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    [job] = [job for job in prometheus["scrape_configs"] if job["job_name"] == "servicepulse"]
    assert job["static_configs"][0]["targets"] == ["worker-1:6066", "worker-2:6066"]
    assert prometheus["rule_files"] == ["servicepulse/servicepulse.rules.yml"]


def test_docker_compose_config() -> None:
    docker_compose = require_tool("docker-compose")
    checked = subprocess.run(
        [docker_compose, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr


def test_compose_prometheus_config_with_promtool(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    # The layout inside the container: prometheus.yml next to servicepulse/<rules>.
    (tmp_path / "servicepulse").mkdir()
    shutil.copy(DEPLOY / "compose" / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copy(
        DEPLOY / "prometheus" / "servicepulse.rules.yml",
        tmp_path / "servicepulse" / "servicepulse.rules.yml",
    )
    checked = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
