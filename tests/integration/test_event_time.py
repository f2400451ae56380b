"""Event time that holds when a backlog is replayed at full speed (issue #10).

A multi-hour case log with bounded disorder and redeliveries is published in one go; the
worker's partitions are then processed at different speeds, and still every final window of
time_to_first_response / time_to_resolution must equal a batch recomputation of the log, with
no observation late.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from servicepulse.processors.standards import load_standards
from servicepulse.streams.settings import Settings
from tests import reference
from tests.eventlog import generate_backlog, rfc3339
from tests.integration.support import consume, produce
from tests.integration.test_windows_flow import final_key, isolated_settings, standards_file
from tests.unit.test_windows_vs_batch import WINDOWS, reference_standards

pytestmark = pytest.mark.integration

__all__ = ["standards_file"]  # the fixture, re-used

COMPARED = ("time_to_first_response", "time_to_resolution")
GRACE = 600.0
# Short, so that partitions without tail events stop holding the watermark back quickly.
IDLE_TIMEOUT = 5.0


def expected_finals(log: list[tuple[str, dict[str, Any]]], standards: Path, tail_start: float
                    ) -> dict[tuple[Any, ...], Any]:  # fmt: skip
    config = load_standards(standards)
    finals = reference.final_windows(
        reference.observations_from_log(log, repeat_days=30),
        reference_standards(config), WINDOWS, GRACE,
    )  # fmt: skip
    return {key: value for key, value in finals.items() if is_compared(key, tail_start)}


def is_compared(key: tuple[Any, ...], tail_start: float) -> bool:
    """Windows of the compared standards that end before the tail (the log's own)."""
    _, _, _, standard, window, start = key
    size, _ = WINDOWS[window]
    return standard in COMPARED and start + size <= tail_start


def mismatches(streamed: dict[Any, Any], expected: dict[Any, Any]) -> list[str]:
    found = [f"missing {key}" for key in expected if key not in streamed]
    found += [f"unexpected {key}" for key in streamed if key not in expected]
    for key, want in expected.items():
        got = streamed.get(key)
        if got is None:
            continue
        if (
            (got["count"], got["status"]) != (want["count"], want["status"])
            or abs(got["compliance"] - want["compliance"]) > 1e-9
            or abs(got["value"] - want["value"]) > 0.01 * abs(want["value"])
        ):
            found.append(f"differs {key}: {got['count']} vs {want['count']}")
    return found


async def replay(settings: Settings, log: list[tuple[str, dict[str, Any]]]) -> None:
    """The whole log in one go, keyed by case_id as the contract asks: a backlog."""
    records = [(event["case_id"].encode(), json.dumps(event).encode()) for _, event in log]
    await produce(settings.kafka_bootstrap, settings.topic_interactions, records)


async def streamed_finals(settings: Settings, expected: dict[Any, Any], tail_start: float
                          ) -> dict[tuple[Any, ...], Any]:  # fmt: skip
    def finals(records: list[Any]) -> dict[tuple[Any, ...], Any]:
        found: dict[tuple[Any, ...], Any] = {}
        for record in records:
            message = json.loads(record.value)
            key = final_key(message)
            if message["final"] and is_compared(key, tail_start):
                # At-least-once may repeat a final; a repeat must be identical.
                assert found.get(key, message) == message, key
                found[key] = message
        return found

    try:
        records = await consume(
            settings.kafka_bootstrap, [settings.topic_windows],
            lambda got: set(finals(got)) >= set(expected), timeout=180, settle=3.0,
        )  # fmt: skip
    except AssertionError:
        # Some never came: compare what did, to say how many are wrong.
        records = await consume(settings.kafka_bootstrap, [settings.topic_windows],
                                lambda got: True, settle=5.0)  # fmt: skip
    return finals(records)


async def late_observations(settings: Settings) -> list[dict[str, Any]]:
    records = await consume(settings.kafka_bootstrap, [settings.topic_late], lambda got: True,
                            timeout=30, settle=2.0)  # fmt: skip
    return [json.loads(record.value) for record in records]


async def backlog_settings(broker: Any, name: str, standards: Path
                           ) -> tuple[Settings, dict[str, str]]:  # fmt: skip
    settings, env = await isolated_settings(broker.bootstrap, name, standards)
    return settings, {**env, "SERVICEPULSE_GRACE_SECONDS": str(GRACE),
                      "SERVICEPULSE_IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT)}  # fmt: skip


async def check_replay(settings: Settings, expected: dict[Any, Any], tail_start: float) -> None:
    streamed = await streamed_finals(settings, expected, tail_start)
    late = await late_observations(settings)
    wrong = mismatches(streamed, expected)
    print(f"final windows checked {len(expected)}, mismatches {len(wrong)}, late {len(late)}")
    assert not wrong, f"{len(wrong)} of {len(expected)} final windows wrong: {wrong[:5]}"
    assert late == []


async def test_full_speed_backlog_replay_equals_batch(broker, start_worker, standards_file):
    settings, env = await backlog_settings(broker, "backlog", standards_file)
    log, tail_start = generate_backlog(hours=10, cases=600, disorder=300, redelivered=0.05)
    expected = expected_finals(log, standards_file, tail_start)
    await replay(settings, log)
    # Started after the publish: the worker meets a backlog, as after an outage.
    start_worker(extra_env=env).start()
    await check_replay(settings, expected, tail_start)


async def test_backlog_replay_on_two_workers_equals_batch(broker, start_worker, standards_file):
    settings, env = await backlog_settings(broker, "backlog2", standards_file)
    log, tail_start = generate_backlog(hours=10, cases=600, disorder=300, seed=42)
    expected = expected_finals(log, standards_file, tail_start)
    first = start_worker(extra_env=env).start()
    second = start_worker(extra_env=env).start()
    first.wait_ready()
    second.wait_ready()
    await replay(settings, log)
    await check_replay(settings, expected, tail_start)
    for worker in (first, second):
        consumed = [line for line in worker.metrics_text().splitlines()
                    if line.startswith("servicepulse_events_consumed_total")]  # fmt: skip
        assert consumed, f"worker on {worker.web_port} got no partitions"


async def test_backlog_replay_survives_kill_9_and_restart(broker, start_worker, standards_file):
    settings, env = await backlog_settings(broker, "backlogkill", standards_file)
    log, tail_start = generate_backlog(hours=10, cases=600, disorder=300, seed=43)
    expected = expected_finals(log, standards_file, tail_start)
    await replay(settings, log)
    worker = start_worker(extra_env=env).start()
    # Killed without warning mid-replay: panes, watermarks and cases come back from the
    # changelogs, and what was not committed is read again.
    await consume(settings.kafka_bootstrap, [settings.topic_windows],
                  lambda got: len(got) >= 300)  # fmt: skip
    worker.stop(signal.SIGKILL)
    start_worker(extra_env=env).start()
    streamed = await streamed_finals(settings, expected, tail_start)
    late = await late_observations(settings)
    wrong = mismatches(streamed, expected)
    print(f"final windows checked {len(expected)}, mismatches {len(wrong)}, late {len(late)}")
    # Event time holds across the kill: the watermarks come back, nothing is late.
    assert late == []
    assert not wrong, wrong[:5]


async def test_disorder_beyond_grace_goes_to_late_and_the_rest_stays_exact(
    broker, start_worker, standards_file
):
    settings, env = await backlog_settings(broker, "backloglate", standards_file)
    log, tail_start = generate_backlog(hours=10, cases=600, disorder=300, seed=44)
    expected = expected_finals(log, standards_file, tail_start)
    start_worker(extra_env=env).start()
    await replay(settings, log)
    await streamed_finals(settings, expected, tail_start)
    # Two hours behind the log's end (far beyond the 600 s grace), once the watermark passed.
    stragglers = straggler_cases(tail_start - 86_400 - 7200, count=12)
    await replay(settings, stragglers)
    late = await consume(settings.kafka_bootstrap, [settings.topic_late],
                         lambda got: len(got) >= 12, settle=3.0)  # fmt: skip
    late_ids = {json.loads(record.value)["event_id"] for record in late}
    assert late_ids == {event["event_id"] for _, event in stragglers if event["kind"] == "opened"}
    streamed = await streamed_finals(settings, expected, tail_start)
    assert mismatches(streamed, expected) == []


def straggler_cases(at: float, count: int) -> list[tuple[str, dict[str, Any]]]:
    """Cases opened and answered at ``at``: one time_to_first_response observation each."""
    events = []
    for n in range(count):
        for k, kind in enumerate(("first_response", "opened")):
            events.append(("interaction", {
                "agency": "ssa", "service": "retirement", "channel": "phone",
                "case_id": f"straggler-{n}", "event_id": f"straggler-{n}-{kind}",
                "occurred_at": rfc3339(at + n - 60 * k), "kind": kind,
            }))  # fmt: skip
    return events
