"""Alerts that never go blind, on a REAL Prometheus scraping a REAL worker.

Embedded broker, one `servicepulse worker` (one partition per topic, so every interaction
shares one event-time clock), rules written by the generator from a small standards file with
short `for` values and a 1 s evaluation interval (RuleOptions), Prometheus scraping and
evaluating every second. In order, against a fresh worker:

1. every input record garbage (nothing valid was ever consumed) → ServicePulseDeadLetterRate;
2. one group whose 80 cases are all abandoned (no good observation ever) →
   ServicePulseErrorBudgetBurn for abandonment_rate, critical;
3. a case opened two hours earlier (event time) that nobody answers →
   ServicePulseUnansweredCases for time_to_first_response;
4. that group then goes silent → ServicePulseNoData, and with nothing left to read anywhere,
   every input partition turns idle → ServicePulseInputsIdle;
5. the worker stops → ServicePulseWorkerAbsent.

Each must reach firing; the seconds from the cause to the firing alert are printed (run with
-s to read them). Skipped without `prometheus`, unless SERVICEPULSE_REQUIRE_PROMTOOL is set.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from servicepulse.devtools.broker import EmbeddedBroker
from servicepulse.rulegen.prometheus_rules import RuleOptions
from servicepulse.rulegen.rules_files import RULES_FILE, write_rules
from servicepulse.streams.settings import Settings
from servicepulse.streams.topics import ensure_topics
from tests.integration.prometheus_support import (
    Prometheus,
    binary,
    running_prometheus,
    scrape_config,
    stopped_after,
)
from tests.integration.support import WorkerProcess, produce, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SILENCE_SECONDS = 20
STANDARDS = f"""\
version: 1
defaults:
  minimum_sample: 20
  silence_after_seconds: {SILENCE_SECONDS}
  standards:
    time_to_first_response: {{target_seconds: 3600, objective: 0.90}}
    abandonment_rate: {{max: 0.05}}
"""
# Short enough for a test; the shipped rules use the defaults of RuleOptions.
FAST = RuleOptions(
    long_interval="1s", silence_for="0s", dead_letter_for="0s", late_events_for="0s",
    worker_absent_for="2s", unanswered_for="0s", inputs_idle_for="0s",
)  # fmt: skip
GROUP = {"agency": "dmv", "service": "licensing", "channel": "phone"}
FIRING_TIMEOUT = 120.0


@dataclass
class Live:
    worker: WorkerProcess
    prometheus: Prometheus
    settings: Settings


@pytest.fixture(scope="module")
def live(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    binary("prometheus")
    workdir = tmp_path_factory.mktemp("alerts-live")
    standards = workdir / "standards.yaml"
    standards.write_text(STANDARDS, encoding="utf-8")
    write_rules(standards, workdir / "rules", FAST)
    settings = Settings(kafka_bootstrap=broker.bootstrap, partitions=1, standards=standards)
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(
        broker.bootstrap, workdir,
        extra_env={"SERVICEPULSE_PARTITIONS": "1", "SERVICEPULSE_STANDARDS": str(standards)},
    ).start()  # fmt: skip
    with stopped_after(worker):
        worker.wait_ready(90)
        config = scrape_config(workdir, worker.web_port, workdir / "rules" / RULES_FILE)
        with running_prometheus(config, workdir) as prometheus:
            wait_for(lambda: prometheus.scrapes() >= 2, 60, "two scrapes of the worker")
            yield Live(worker, prometheus, settings)


def _firing(prometheus: Prometheus, alert: str, **labels: str) -> bool:
    matchers = ", ".join(
        [f'alertname="{alert}"', 'alertstate="firing"']
        + [f'{key}="{value}"' for key, value in labels.items()]
    )
    return bool(prometheus.result(f"ALERTS{{{matchers}}}"))


def _until_firing(live: Live, alert: str, since: float, **labels: str) -> float:
    """Waits for the alert to fire; returns the seconds since ``since`` and prints them."""
    try:
        wait_for(lambda: _firing(live.prometheus, alert, **labels), FIRING_TIMEOUT, alert)
    except AssertionError:
        print(f"--- worker log ---\n{live.worker.log_tail()}")
        raise
    took = time.monotonic() - since
    print(f"\n{alert} {labels or ''} firing after {took:.1f} s")
    return took


def _at(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _interaction(case_id: str, kind: str, when: datetime, serial: int) -> tuple[bytes, bytes]:
    event = {"event_id": f"ix-{case_id}-{serial}", "occurred_at": _at(when), **GROUP,
             "case_id": case_id, "kind": kind}  # fmt: skip
    return case_id.encode(), json.dumps(event).encode()


def test_alerts_fire_for_garbage_total_failure_unanswered_cases_silence_and_absence(
    live: Live,
) -> None:
    settings, prometheus = live.settings, live.prometheus
    # Nothing valid consumed yet: no servicepulse_events_consumed_total series at all.
    assert not prometheus.result("servicepulse_events_consumed_total")

    # 1. Every record garbage.
    started = time.monotonic()
    garbage = [(None, b"not json %d" % index) for index in range(20)]
    asyncio.run(produce(settings.kafka_bootstrap, settings.topic_feedback, garbage))
    _until_firing(live, "ServicePulseDeadLetterRate", started)

    # 3 (sent first: the same partition's later events move its event-time clock past the
    # target). A case opened two hours ago (event time) that nobody answers.
    now = datetime.now(UTC)
    unanswered = [_interaction("unanswered-1", "opened", now - timedelta(hours=2), 0)]
    asyncio.run(produce(settings.kafka_bootstrap, settings.topic_interactions, unanswered))

    # 2. One group, 80 cases, every one abandoned: no good observation ever.
    started = time.monotonic()
    abandoned = []
    for index in range(80):
        case_id = f"abandoned-{index}"
        opened = now - timedelta(seconds=120) + timedelta(milliseconds=index)
        abandoned += [
            _interaction(case_id, "opened", opened, 0),
            _interaction(case_id, "abandoned", opened + timedelta(seconds=60), 1),
        ]
    asyncio.run(produce(settings.kafka_bootstrap, settings.topic_interactions, abandoned))
    last_event = time.monotonic()
    _until_firing(
        live, "ServicePulseErrorBudgetBurn", started,
        standard="abandonment_rate", severity="critical", **GROUP,
    )  # fmt: skip
    _until_firing(
        live, "ServicePulseUnansweredCases", started,
        standard="time_to_first_response", **GROUP,
    )  # fmt: skip
    over = prometheus.result(
        'servicepulse_unanswered_cases_over_target{standard="time_to_first_response"}'
    )
    assert [series["value"][1] for series in over] == ["1"], over

    # 4. The group sends nothing more: silent for longer than silence_after_seconds.
    took = _until_firing(live, "ServicePulseNoData", last_event, **GROUP)
    assert took >= SILENCE_SECONDS
    # Nothing to read on any input partition for the idle timeout: the whole intake is quiet.
    took = _until_firing(live, "ServicePulseInputsIdle", last_event)
    assert took >= settings.idle_timeout_seconds

    # 5. The worker stops exporting.
    started = time.monotonic()
    live.worker.stop()
    _until_firing(live, "ServicePulseWorkerAbsent", started)
