"""The Grafana dashboards and the Prometheus rules, proven against a REAL Prometheus.

Embedded broker, a real `servicepulse worker`, generated traffic, and `prometheus` scraping the
worker every 5 s with the shipped rules file evaluated every 5 s. Then every panel query
of both dashboards (template variables resolved to real label values through the Prometheus
API) must return data, and every rule expression must evaluate. The worker's /metrics must
pass `promtool check metrics` without a single lint warning.

Traffic comes in two batches: one before Prometheus starts and one after it has scraped a few
times, so the counters and histogram buckets increase inside the [1m] windows the queries use
(a rate over a counter that never moved is 0, and a quantile over it NaN).

Skipped when `prometheus` is not installed, unless SERVICEPULSE_REQUIRE_PROMTOOL is set (CI),
in which case a missing binary fails.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from servicepulse.devtools.broker import EmbeddedBroker
from servicepulse.devtools.generator import DEFAULT_START, FeedbackGenerator
from servicepulse.schemas.models import FEEDBACK_TYPE
from servicepulse.streams.settings import Settings
from tests.integration.prometheus_support import (
    Prometheus,
    binary,
    running_prometheus,
    scrape_config,
    stopped_after,
)
from tests.integration.support import WorkerProcess, produce, wait_caught_up, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "deploy" / "prometheus" / "servicepulse.rules.yml"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
# Grafana's built-in interval variables, as a short demo run can answer them. The rate interval
# spans the whole second batch, which takes 30-60 s to process on 2 loaded cores.
BUILTINS = {"__rate_interval": "3m", "__interval": "1m", "__range": "1m",
            "__range_s": "60", "__interval_ms": "60000"}  # fmt: skip
FIRST_BATCH = 2000
SECOND_BATCH = 1200


@dataclass
class Stack:
    worker: WorkerProcess
    prometheus: Prometheus
    settings: Settings


async def _publish(
    settings: Settings, generator: FeedbackGenerator, count: int, *, late: bool = False
) -> None:
    """``late``: the first rated feedback of the batch gets an event time a day before the
    generator's start, behind every watermark, so it is counted late (the generator's own
    disorder stays within the grace period)."""
    records = list(generator.records(count))
    values = [record.value for record in records]
    if late:
        at = next(index for index, record in enumerate(records)
                  if record.event_type == FEEDBACK_TYPE and b'"csat"' in record.value)  # fmt: skip
        event = json.loads(values[at])
        event["occurred_at"] = (DEFAULT_START - timedelta(days=1)).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z"
        )
        values[at] = json.dumps(event).encode()
    for topic, feedback in ((settings.topic_feedback, True), (settings.topic_interactions, False)):
        pairs = [(record.key, value) for record, value in zip(records, values, strict=True)
                 if (record.event_type == FEEDBACK_TYPE) == feedback]  # fmt: skip
        await produce(settings.kafka_bootstrap, topic, pairs)
    await wait_caught_up(settings, timeout=180)


@pytest.fixture(scope="module")
def stack(
    broker: EmbeddedBroker, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    binary("prometheus")
    workdir = tmp_path_factory.mktemp("dashboards-live")
    worker = WorkerProcess(broker.bootstrap, workdir).start()
    with stopped_after(worker):
        worker.wait_ready(90)
        generator = FeedbackGenerator(seed=2026)
        asyncio.run(_publish(settings, generator, FIRST_BATCH))
        # A scrape renders ~7,000 series: 0.4-1.5 s measured on 2 loaded cores, so 5 s (2 s
        # still timed out once).
        config = scrape_config(workdir, worker.web_port, RULES_FILE, interval="5s")
        with running_prometheus(config, workdir) as prometheus:
            wait_for(lambda: prometheus.scrapes() >= 3, 60, "three scrapes of the worker")
            wait_for(lambda: bool(prometheus.result("servicepulse_sli_observations_total")), 60,
                     "the first batch's SLI counters scraped")  # fmt: skip
            scraped = time.time()
            # The shipped 1m groups (SLO, long windows, silence) first run up to a minute after
            # start, possibly before the first scrape, which records nothing. The queries below
            # are evaluated at `caught_up + 15`: each group must have run on the first batch's
            # data before then (a faster worker made that a race and failed CI once).
            wait_for(lambda: not prometheus.groups_not_evaluated_since(scraped), 90,
                     "every rule group evaluated on the first batch's data")  # fmt: skip
            # Second batch while Prometheus watches: rates and quantiles over [1m] see it.
            asyncio.run(_publish(settings, generator, SECOND_BATCH, late=True))
            caught_up = time.time()
            after = prometheus.scrapes()
            # Open cases are reported every 10 s; window gauges at most every 5 s per window.
            wait_for(lambda: prometheus.scrapes() >= after + 12, 120, "twelve more scrapes")
            wait_for(lambda: bool(prometheus.result("servicepulse:sli_error:ratio_rate5m")), 30,
                     "recording rules evaluated")  # fmt: skip
            prometheus.at = min(time.time(), caught_up + 15)
            yield Stack(worker, prometheus, settings)


# ------------------------------------------------------------------------------ helpers


def _dashboards() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, json.loads(path.read_text())) for path in DASHBOARDS]


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def _substitute(expr: str, values: dict[str, str]) -> str:
    for name in sorted(values, key=len, reverse=True):  # $__range_s before $__range
        expr = re.sub(r"\$\{" + re.escape(name) + r"(?::[a-z]+)?\}", values[name], expr)
        expr = re.sub(r"\[\[" + re.escape(name) + r"\]\]", values[name], expr)
        expr = re.sub(r"\$" + re.escape(name) + r"\b", values[name], expr)
    return expr


LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")


def _resolve_variables(prometheus: Prometheus, dashboard: dict[str, Any]) -> dict[str, str]:
    """Each query variable, in order, set to the real label value with the most data behind it
    (the largest sum of its metric), given the values chosen for the variables before it."""
    values = dict(BUILTINS)
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        match = LABEL_VALUES.match(_substitute(str(query), values).strip())
        assert variable["type"] == "query" and match, f"unsupported variable {variable['name']}"
        selector, label = match["selector"], match["label"]
        assert selector, f"variable {variable['name']}: label_values without a metric"
        ranked = prometheus.result(f"sort_desc(sum by ({label}) ({selector}))")
        found = [series["metric"][label] for series in ranked if label in series["metric"]]
        assert found, f"variable {variable['name']}: {selector} has no {label} values"
        values[variable["name"]] = found[0]
    return values


def _targets() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) of every panel target."""
    return [
        (name, panel.get("title", ""), target["expr"])
        for name, dashboard in _dashboards()
        for panel in _panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES_FILE.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


METRIC_NAME = re.compile(r"\bservicepulse_[a-z0-9_]+")
HISTOGRAM_SUFFIX = re.compile(r"_(bucket|sum|count)$")


def _referenced_metrics() -> set[str]:
    exprs = [expr for _, _, expr in _targets()] + [rule["expr"] for rule in _rules()]
    for _, dashboard in _dashboards():
        exprs += [json.dumps(v.get("query")) for v in dashboard["templating"]["list"]]
    return {name for expr in exprs for name in METRIC_NAME.findall(expr)}


# -------------------------------------------------------------------------------- tests


def test_prometheus_scrapes_the_worker(stack: Stack) -> None:
    up = stack.prometheus.result('up{job="servicepulse"}')
    assert [series["value"][1] for series in up] == ["1"], up


def test_worker_exports_every_metric_the_dashboards_and_rules_use(stack: Stack) -> None:
    missing = []
    for name in sorted(_referenced_metrics()):
        family = HISTOGRAM_SUFFIX.sub("", name)
        if not stack.prometheus.result(f'count({{__name__=~"{re.escape(name)}"}})'):
            missing.append(name if family == name else f"{name} (histogram {family})")
    assert not missing, (
        "the worker exports no samples of these metrics that the dashboards / rules use "
        f"(declared in streams/metrics.py but not set anywhere?): {', '.join(missing)}"
    )


def test_every_dashboard_panel_query_returns_data(stack: Stack) -> None:
    failures = []
    checked = 0
    for name, dashboard in _dashboards():
        values = _resolve_variables(stack.prometheus, dashboard)
        for panel in _panels(dashboard):
            for target in panel.get("targets", []):
                expr = _substitute(target["expr"], values)
                assert "$" not in expr, f"{name} / {panel['title']}: unresolved variable: {expr}"
                answer = stack.prometheus.query(expr)
                checked += 1
                if answer["status"] != "success":
                    failures.append(f"{name} / {panel['title']}: error {answer.get('error')}"
                                    f"\n    {expr}")  # fmt: skip
                elif not answer["data"]["result"]:
                    metrics = sorted(set(METRIC_NAME.findall(expr)))
                    failures.append(f"{name} / {panel['title']}: no data (metrics: "
                                    f"{', '.join(metrics)})\n    {expr}")  # fmt: skip
                elif not any(math.isfinite(float(series["value"][1]))
                             for series in answer["data"]["result"]):  # fmt: skip
                    # e.g. a quantile over buckets that did not move: Grafana shows NaN.
                    failures.append(f"{name} / {panel['title']}: only NaN/Inf\n    {expr}")
    assert checked >= 40
    assert not failures, f"{len(failures)} of {checked} panel queries failed:\n" + "\n".join(
        failures
    )


def test_every_rule_expression_evaluates(stack: Stack) -> None:
    failures = []
    for rule in _rules():
        name = rule.get("record") or rule.get("alert")
        answer = stack.prometheus.query(rule["expr"])
        if answer["status"] != "success":
            failures.append(f"{name}: {answer.get('error')}\n    {rule['expr']}")
    assert not failures, "\n".join(failures)


def test_every_recording_rule_has_data(stack: Stack) -> None:
    records = sorted({rule["record"] for rule in _rules() if "record" in rule})
    assert records
    empty = [record for record in records if not stack.prometheus.result(record)]
    assert not empty, f"recording rules without data: {empty}"
    # And Prometheus itself evaluates every group without error.
    groups = stack.prometheus.api("rules")["data"]["groups"]
    unhealthy = [
        f"{group['name']}/{rule['name']}: {rule.get('lastError')}"
        for group in groups
        for rule in group["rules"]
        if rule.get("health") == "err"
    ]
    assert not unhealthy, unhealthy


def test_live_metrics_pass_promtool_check_metrics(stack: Stack) -> None:
    promtool = binary("promtool")
    body = stack.worker.metrics_text()
    assert "servicepulse_events_consumed_total" in body
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=body.encode(), capture_output=True, timeout=60
    )
    output = (checked.stdout + checked.stderr).decode()
    # Lint findings (counter without _total, missing HELP, non-base units, ...) are failures
    # too: promtool prints them and exits 3 (warning-only) or 1.
    assert checked.returncode == 0 and not output.strip(), output
