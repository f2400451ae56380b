"""deploy/alertmanager/alertmanager.yml: valid for amtool, routes by severity and agency."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.tools import require_tool

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "alertmanager" / "alertmanager.yml"


def _amtool() -> str:
    return require_tool("amtool", "apt install prometheus-alertmanager")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    # HOME points nowhere so a user's ~/.config/amtool/config.yml cannot change the result.
    env = {**os.environ, "HOME": "/nonexistent"}
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, env=env)


def test_amtool_check_config() -> None:
    result = _run(_amtool(), "check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "agency=ssa"], "ssa-pager"),
        (["severity=warning", "agency=ssa"], "ssa-ticket"),
        (["severity=critical", "agency=irs"], "irs-pager"),
        (["severity=warning", "agency=irs"], "irs-ticket"),
        (["severity=critical", "agency=dmv"], "pager"),
        (["severity=warning", "agency=dmv", "alertname=ServicePulseErrorBudgetBurn"], "ticket"),
        (["severity=critical", "alertname=ServicePulseWorkerDown"], "pager"),
        (["severity=warning", "alertname=ServicePulseConsumerLag"], "ticket"),
        (["severity=info", "agency=ssa"], "ssa-ticket"),
        (["alertname=Unknown"], "ticket"),
    ],
)
def test_routes(labels: list[str], receiver: str) -> None:
    result = _run(_amtool(), "config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_grouping_inhibition_and_receivers() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert config["route"]["group_by"] == ["alertname", "agency", "service", "standard"]
    agency, pipeline = config["inhibit_rules"]
    # Per agency: both sides carry an agency and the same group and standard.
    assert agency["source_matchers"] == ['severity="critical"', 'agency=~".+"']
    assert agency["target_matchers"] == ['severity="warning"', 'agency=~".+"']
    assert agency["equal"] == ["agency", "service", "channel", "standard"]
    # Pipeline alerts (no agency) only mute pipeline alerts.
    assert pipeline["source_matchers"] == ['severity="critical"', 'agency=""']
    assert pipeline["target_matchers"] == ['severity="warning"', 'agency=""']
    for receiver in config["receivers"]:
        for webhook in receiver["webhook_configs"]:
            assert webhook["url"].startswith("http://127.0.0.1:5001/")
