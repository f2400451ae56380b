"""Generated Prometheus rules: shipped file is current, budgets resolve like the standards
file, and promtool accepts the rules and passes deploy/prometheus/tests."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from servicepulse.processors.standards import (
    STANDARD_NAMES,
    STANDARD_SPECS,
    StandardsConfig,
    load_standards,
    parse_standards,
)
from servicepulse.rulegen.prometheus_rules import (
    BURN_WINDOWS,
    WINDOWS,
    RuleOptions,
    burn_scopes,
    objective_ratio,
    own_silence,
    rules_document,
    runbook_anchor,
    silence_scopes,
)
from servicepulse.rulegen.rules_files import CONFIG_FILE, RULES_FILE, write_rules
from tests.unit.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
STANDARDS = ROOT / "deploy" / "standards.example.yaml"
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES_TEST = PROMETHEUS / "tests" / "servicepulse.test.yml"
# Tests over hours and days, evaluated every 10m (1m would take minutes).
HOURS_TEST = PROMETHEUS / "tests" / "servicepulse.hours.test.yml"
SILENCE_DATA = Path(__file__).resolve().parent / "data" / "silence"


def _promtool() -> str:
    return require_tool("promtool", "apt install prometheus")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_shipped_files_match_the_generator(tmp_path: Path) -> None:
    written = write_rules(STANDARDS, tmp_path)
    assert [p.name for p in written] == [RULES_FILE, CONFIG_FILE]
    for path in written:
        shipped = PROMETHEUS / path.name
        assert shipped.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
            f"{shipped} is stale: run `servicepulse rules`"
        )


def test_cli_rules_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from servicepulse.streams.cli import cli

    result = CliRunner().invoke(
        cli, ["rules", "--standards", str(STANDARDS), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / RULES_FILE).is_file()
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["rules", "--standards", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2


def test_rule_file_structure() -> None:
    document = rules_document(load_standards(STANDARDS))
    groups = {group["name"]: group for group in document["groups"]}
    records = [
        rule["record"]
        for name in ("servicepulse-sli-recording", "servicepulse-sli-recording-long")
        for rule in groups[name]["rules"]
    ]
    assert records == [
        f"servicepulse:{kind}{w}"
        for w in WINDOWS
        for kind in ("sli_observations:increase", "sli_good:increase", "sli_error:ratio_rate")
    ]
    assert WINDOWS == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    # The slow groups run at the operator's interval, the rest at Prometheus' global one.
    assert groups["servicepulse-sli-recording-long"]["interval"] == "1m"
    assert groups["servicepulse-slo"]["interval"] == "1m"
    assert "interval" not in groups["servicepulse-standards-burn-rate"]
    assert [(b.long, b.short, b.factor, b.severity) for b in BURN_WINDOWS] == [
        ("1h", "5m", 14.4, "critical"),
        ("6h", "30m", 6.0, "critical"),
        ("1d", "2h", 3.0, "warning"),
        ("3d", "6h", 1.0, "warning"),
    ]
    slo = {rule["record"] for rule in groups["servicepulse-slo"]["rules"]}
    assert {
        "servicepulse:sli_error:ratio_rate30d", "servicepulse:slo_objective:ratio",
        "servicepulse:slo_error_budget:ratio", "servicepulse:slo_burn_rate:ratio_rate1h",
        "servicepulse:slo_period_burn_rate:ratio",
        "servicepulse:slo_period_error_budget_remaining:ratio",
        "servicepulse:slo_minimum_sample", "servicepulse:slo_page:bool",
    } == slo  # fmt: skip
    alerts = [
        rule
        for name in ("servicepulse-standards-burn-rate", "servicepulse-silence",
                     "servicepulse-pipeline")
        for rule in groups[name]["rules"]
    ]  # fmt: skip
    for rule in alerts:
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        if rule["alert"] != "ServicePulseStandardWindowAlert":  # severity from the series
            assert rule["labels"]["severity"] in ("critical", "warning")
    for rule in groups["servicepulse-standards-burn-rate"]["rules"]:
        assert rule["labels"]["standard"] in STANDARD_SPECS
    names = {rule["alert"] for rule in alerts}
    assert {"ServicePulseNoData", "ServicePulseUnansweredCases", "ServicePulseWatermarkStalled",
            "ServicePulseInputsIdle"} <= names  # fmt: skip
    # transfer_rate has page: false: its critical pair also exists as a ticket.
    transfer = [
        (rule["labels"]["long_window"], rule["labels"]["severity"])
        for rule in groups["servicepulse-standards-burn-rate"]["rules"]
        if rule["labels"]["standard"] == "transfer_rate"
    ]
    assert ("6h", "critical") in transfer and ("6h", "warning") in transfer


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_runbook_link_is_a_heading_of_the_shipped_runbook() -> None:
    runbook = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    anchors = {_slug(line.lstrip("#")) for line in runbook.splitlines() if line.startswith("#")}
    options = RuleOptions(runbook_url="https://wiki.example.gov/servicepulse/runbook")
    document = rules_document(load_standards(STANDARDS), options)
    links = {
        rule["annotations"]["runbook_url"]
        for group in document["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    prefix = "https://wiki.example.gov/servicepulse/runbook#"
    assert all(link.startswith(prefix) for link in links), links
    missing = {link.removeprefix(prefix) for link in links} - anchors
    assert not missing, f"runbook anchors without a heading in deploy/README.md: {missing}"
    alerts = {rule["alert"] for group in document["groups"] for rule in group["rules"]
              if "alert" in rule}  # fmt: skip
    assert {runbook_anchor(alert) for alert in alerts} <= anchors


def test_options_reach_the_rules() -> None:
    options = RuleOptions(long_interval="5m", silence_for="1s", dead_letter_for="3s")
    document = rules_document(load_standards(STANDARDS), options)
    groups = {group["name"]: group for group in document["groups"]}
    assert groups["servicepulse-slo"]["interval"] == "5m"
    by_name = {rule.get("alert"): rule for group in document["groups"] for rule in group["rules"]}
    assert by_name["ServicePulseNoData"]["for"] == "1s"
    assert by_name["ServicePulseDeadLetterRate"]["for"] == "3s"


GROUPS = list(
    itertools.product(["ssa", "irs", "dmv"], ["retirement", "tax"], ["phone", "web", "chat"])
)


def _assert_one_budget_per_group(config: StandardsConfig) -> None:
    scopes = burn_scopes(config)
    for agency, service, channel in GROUPS:
        group = {"agency": agency, "service": service, "channel": channel}
        resolved = config.for_group(agency, service, channel)
        for name in {scope.standard for scope in scopes}:
            hits = [s for s in scopes if s.standard == name and s.applies_to(group)]
            if name not in resolved:
                assert hits == [], (group, name)
                continue
            assert len(hits) == 1, (group, name, hits)
            standard = resolved[name]
            fields = (
                {"objective": standard.objective or 0.0}
                if standard.kind == "duration"
                else {"max" if standard.direction == "at_most" else "min": standard.target}
            )
            expected = 1 - objective_ratio(name, fields)
            assert hits[0].budget == pytest.approx(expected), (group, name)


def test_every_group_gets_exactly_the_budget_for_group_resolves() -> None:
    _assert_one_budget_per_group(load_standards(STANDARDS))
    # Overlapping overrides of every specificity, ties, shadowing and partial overrides.
    config = parse_standards(
        {
            "version": 1,
            "defaults": {
                "standards": {
                    "time_to_first_response": {"target_seconds": 3600, "objective": 0.9},
                    "abandonment_rate": {"max": 0.05},
                }
            },
            "overrides": [
                {"match": {"channel": "phone"}, "standards": {"abandonment_rate": {"max": 0.1}}},
                {"match": {"agency": "ssa"}, "standards": {"abandonment_rate": {"max": 0.07}}},
                {
                    "match": {"agency": "ssa", "service": "tax"},
                    "standards": {"time_to_first_response": {"objective": 0.99}},
                },
                {
                    "match": {"agency": "irs", "channel": "web"},
                    "standards": {"time_to_first_response": {"target_seconds": 60}},
                },
                {
                    "match": {"agency": "ssa", "service": "retirement", "channel": "chat"},
                    "standards": {"abandonment_rate": {"max": 0.2}, "csat": {"min": 0.9}},
                },
                # A tie in specificity with overrides[1] (file order decides for ssa/tax).
                {"match": {"service": "tax"}, "standards": {"abandonment_rate": {"max": 0.06}}},
            ],
        },
        "test",
    )
    _assert_one_budget_per_group(config)
    scopes = [(s.standard, s.source) for s in burn_scopes(config)]
    assert ("time_to_first_response", "overrides[3]") not in scopes  # target only
    assert ("csat", "defaults") not in scopes


def test_promtool_check_and_unit_tests() -> None:
    promtool = _promtool()
    checked = _run(promtool, "check", "rules", str(PROMETHEUS / RULES_FILE))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = _run(promtool, "check", "config", str(PROMETHEUS / CONFIG_FILE))
    assert config.returncode == 0, config.stdout + config.stderr
    tested = _run(promtool, "test", "rules", str(RULES_TEST), str(HOURS_TEST))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.count("SUCCESS") == 2, tested.stdout


def test_promtool_silence_set_per_standard_in_an_override(tmp_path: Path) -> None:
    """The shipped file sets csat's own silence in its defaults (a label matcher); set in an
    override, the group alert leaves the standard out with an ``unless``."""
    promtool = _promtool()
    write_rules(SILENCE_DATA / "standards.yaml", tmp_path)
    test_file = tmp_path / "silence.test.yml"
    test_file.write_text((SILENCE_DATA / "silence.test.yml").read_text(encoding="utf-8"))
    tested = _run(promtool, "test", "rules", str(test_file))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_unit_tests_cover_the_required_cases() -> None:
    tests = [
        test
        for path in (RULES_TEST, HOURS_TEST)
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]
    ]
    names = " ".join(test["name"] for test in tests)
    for words in (
        "page",
        "ticket",
        "tighter override",
        "healthy",
        "good counter missing",
        "born 100% bad",
        "minimum_sample",
        "sparse traffic",
        "page false",
        "all dead-lettered and all late",
        "silent group",
        "unanswered",
        "watermark stalled vs idle vs progressing",
        "idle inputs everywhere",
        "one partition still active",
        "own silence expectation",
        "consumed counter at 0",
    ):
        assert words in names


def test_watermark_alert_options() -> None:
    options = RuleOptions(watermark_stalled_after="3m", watermark_stalled_for="1m",
                          inputs_idle_for="7m")  # fmt: skip
    document = rules_document(load_standards(STANDARDS), options)
    rules = {rule["alert"]: rule for group in document["groups"] for rule in group["rules"]
             if "alert" in rule}  # fmt: skip
    stalled, idle = rules["ServicePulseWatermarkStalled"], rules["ServicePulseInputsIdle"]
    assert "changes(servicepulse_watermark_seconds[3m]) == 0" in stalled["expr"]
    assert "servicepulse_watermark_seconds offset 3m" in stalled["expr"]
    assert (stalled["for"], stalled["labels"]["severity"]) == ("1m", "critical")
    assert (idle["for"], idle["labels"]["severity"]) == ("7m", "warning")


def _assert_one_silence_per_group_and_standard(config: StandardsConfig) -> None:
    """Each (group, standard) is judged by exactly one no-data rule, with the value
    ``StandardsConfig.silence_after_seconds`` resolves: its own if it has one, else its
    group's (and then only by the group's rule, which leaves the others out)."""
    groups_, standards_ = silence_scopes(config)
    own = own_silence(config)
    for agency, service, channel in GROUPS:
        group = {"agency": agency, "service": service, "channel": channel}
        group_hits = [scope for scope in groups_ if scope.applies_to(group)]
        assert len(group_hits) == 1, (group, group_hits)
        for name in STANDARD_NAMES:
            expected = config.silence_after_seconds(agency, service, channel, name)
            hits = [s for s in standards_ if s.standard == name and s.applies_to(group)]
            owned = [m for n, m in own if n == name and all(group[k] == v for k, v in m.items())]
            if owned:
                assert [hit.value for hit in hits] == [expected], (group, name, hits)
            else:
                assert hits == [], (group, name, hits)
                assert group_hits[0].value == expected, (group, name)


def test_every_group_and_standard_gets_exactly_the_silence_it_resolves() -> None:
    _assert_one_silence_per_group_and_standard(load_standards(STANDARDS))
    _assert_one_silence_per_group_and_standard(load_standards(SILENCE_DATA / "standards.yaml"))
    config = parse_standards(
        {
            "version": 1,
            "defaults": {
                "silence_after_seconds": 3600,
                "standards": {
                    "csat": {"min": 0.8, "silence_after_seconds": 86400},
                    "abandonment_rate": {"max": 0.05},
                },
            },
            "overrides": [
                {"match": {"channel": "phone"}, "silence_after_seconds": 900},
                {"match": {"agency": "ssa"}, "standards": {"csat": {"silence_after_seconds": 0}}},
                {
                    "match": {"agency": "irs", "service": "tax"},
                    "standards": {"abandonment_rate": {"silence_after_seconds": 600}},
                },
                {"match": {"agency": "irs", "channel": "web"}, "silence_after_seconds": 0},
                {
                    "match": {"agency": "ssa", "service": "tax", "channel": "chat"},
                    "standards": {"csat": {"silence_after_seconds": 7200}},
                },
                {"match": {"service": "tax"}, "silence_after_seconds": 1800},
            ],
        },
        "test",
    )
    _assert_one_silence_per_group_and_standard(config)
    document = rules_document(config)
    no_data = [rule for group in document["groups"] for rule in group["rules"]
               if rule.get("alert") == "ServicePulseNoData"]  # fmt: skip
    # 0 turns the alert off: no rule for ssa's csat nor for irs/web.
    assert {(r["labels"].get("standard", ""), r["labels"]["scope"]) for r in no_data} == {
        ("", "defaults"), ("", "channel=phone"), ("", "service=tax"),
        ("csat", "defaults"), ("abandonment_rate", "agency=irs,service=tax"),
        ("csat", "agency=ssa,service=tax,channel=chat"),
    }  # fmt: skip
