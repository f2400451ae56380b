"""Standards windows end to end: correctness against a batch recomputation, restart, scale-out.

Each test gets its own topics and consumer group on the module's embedded broker.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from servicepulse.processors.standards import load_standards
from servicepulse.streams.settings import DEFAULT_STANDARDS_FILE, Settings
from servicepulse.streams.topics import ensure_topics
from tests import reference
from tests.eventlog import generate
from tests.integration.support import consume, produce, wait_caught_up
from tests.unit.test_windows_vs_batch import assert_equal_to_batch, batch_finals

pytestmark = pytest.mark.integration

# Wider than the log's whole event-time span, far narrower than the lateness of its
# deliberately late events (three days). The batch reference judges lateness by the latest
# event time in log order, the worker by its watermark; with this grace both keep every event
# of the body and both drop the stragglers (test_event_time covers the default grace).
GRACE = 43_200.0


async def isolated_settings(
    bootstrap: str, name: str, standards: Path | None = None
) -> tuple[Settings, dict[str, str]]:
    env = {
        "SERVICEPULSE_APP_ID": f"sp-{name}",
        "SERVICEPULSE_TOPIC_FEEDBACK": f"{name}.feedback",
        "SERVICEPULSE_TOPIC_INTERACTIONS": f"{name}.interactions",
        "SERVICEPULSE_TOPIC_SCORED": f"{name}.scored",
        "SERVICEPULSE_TOPIC_DEADLETTER": f"{name}.deadletter",
        "SERVICEPULSE_TOPIC_WINDOWS": f"{name}.windows",
        "SERVICEPULSE_TOPIC_LATE": f"{name}.late",
        "SERVICEPULSE_TOPIC_ALERTS": f"{name}.alerts",
        "SERVICEPULSE_TOPIC_JOURNEYS": f"{name}.journeys",
        "SERVICEPULSE_TOPIC_BENCHMARKS": f"{name}.benchmarks",
        "SERVICEPULSE_TOPIC_PUBLIC": f"{name}.public",
        "SERVICEPULSE_GRACE_SECONDS": str(GRACE),
    }
    if standards is not None:
        env["SERVICEPULSE_STANDARDS"] = str(standards)
    settings = Settings(
        kafka_bootstrap=bootstrap,
        **{key.removeprefix("SERVICEPULSE_").lower(): value for key, value in env.items()},
    )
    await ensure_topics(settings)
    return settings, env


@pytest.fixture
def standards_file(tmp_path: Path) -> Path:
    """The shipped standards without run_around_rate: the batch recomputation here covers the
    case and feedback standards (run-around is covered by test_customer_picture)."""
    document = yaml.safe_load(DEFAULT_STANDARDS_FILE.read_text())
    del document["defaults"]["standards"]["run_around_rate"]
    document["benchmarks"]["best_in_class"].pop("run_around_rate", None)
    path = tmp_path / "standards.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


async def scenario(
    bootstrap: str, name: str, standards: Path, seed: int
) -> tuple[Settings, dict[str, str], list[tuple[str, dict[str, Any]]], dict[tuple[Any, ...], Any]]:
    """Own topics for the test, its generated log, and the finals a batch recomputes from it."""
    settings, env = await isolated_settings(bootstrap, name, standards)
    log = generate(cases=300, seed=seed)
    return settings, env, log, batch_finals(log, load_standards(standards), GRACE)


Events = list[tuple[str, dict[str, Any]]]


def split_log(log: Events) -> tuple[Events, Events]:
    """The log's body, and what arrives after it: the stragglers three days late, then the
    tail (events two days on, which make the body's windows final)."""
    arrives_after = [item[1]["event_id"].startswith(("late-", "tail-")) for item in log]
    return ([item for item, later in zip(log, arrives_after, strict=True) if not later],
            [item for item, later in zip(log, arrives_after, strict=True) if later])  # fmt: skip


async def publish_log(settings: Settings, log: Events) -> None:
    """The log's body, then - once the worker has caught up - its stragglers and tail.

    A straggler is late against the watermark, which exists only once every upstream task has
    sent one: published with the body, a straggler could reach the windows before that (on a
    loaded machine it did) and count. Published at once, the tail could likewise overtake the
    body and make its events late; in production events days apart do not arrive together.
    """
    body, after = split_log(log)
    await publish_events(settings, body)
    await wait_caught_up(settings)
    await publish_events(settings, after)


async def publish_events(settings: Settings, events: list[tuple[str, dict[str, Any]]]) -> None:
    topics = {"feedback": settings.topic_feedback, "interaction": settings.topic_interactions}
    # About 200 events/s: a pace the worker sustains, so no partition runs far ahead of
    # another (a repeat contact is judged on the contacts that have arrived before it).
    for start in range(0, len(events), 50):
        chunk = events[start : start + 50]
        for kind in topics:
            # Keyed as the contract asks (servicepulse publish does the same): a case's events
            # by case_id, so they stay in order.
            records = [(str(event.get("case_id", event["event_id"])).encode(),
                        json.dumps(event).encode()) for k, event in chunk if k == kind]  # fmt: skip
            if records:
                await produce(settings.kafka_bootstrap, topics[kind], records)
        await asyncio.sleep(0.25)


def final_key(message: dict[str, Any]) -> tuple[Any, ...]:
    return (message["agency"], message["service"], message["channel"], message["standard"],
            message["window"], reference.epoch(message["window_start"]))  # fmt: skip


async def collect_finals(settings: Settings, expected: int) -> dict[tuple[Any, ...], Any]:
    def finals(records: list[Any]) -> dict[tuple[Any, ...], Any]:
        found: dict[tuple[Any, ...], Any] = {}
        for record in records:
            message = json.loads(record.value)
            if message["final"]:
                key = final_key(message)
                # At-least-once may repeat a final; a repeat must be identical.
                assert found.get(key, message) == message, key
                found[key] = message
        return found

    records = await consume(
        settings.kafka_bootstrap, [settings.topic_windows],
        lambda got: len(finals(got)) >= expected, timeout=240, settle=3.0,
    )  # fmt: skip
    return finals(records)


async def test_streaming_finals_equal_batch_recomputation(broker, start_worker, standards_file):
    settings, env, log, expected = await scenario(broker.bootstrap, "batch", standards_file, 21)
    start_worker(extra_env=env).start()
    await publish_log(settings, log)
    streamed = await collect_finals(settings, len(expected))
    assert_equal_to_batch(streamed, expected)
    late = await consume(settings.kafka_bootstrap, [settings.topic_late],
                         lambda got: len(got) >= 6)  # fmt: skip
    assert {json.loads(r.value)["event_id"] for r in late} >= {f"late-{n}" for n in range(6)}


async def test_restart_mid_stream_neither_resets_nor_double_counts(
    broker, start_worker, standards_file
):
    settings, env, log, expected = await scenario(broker.bootstrap, "restart", standards_file, 22)
    worker = start_worker(extra_env=env).start()
    half = len(log) // 2
    await publish_log(settings, log[:half])
    # Stop it as an operator would (SIGTERM) while it is still working through the first half:
    # the next worker restores cases, journeys, panes and watermarks from the changelogs and
    # re-reads what was not committed, neither resetting nor counting anything twice.
    # The first half's windows are still open (its tail closes them): their updates, at least
    # one per window family it touched (171 in a run), say the worker has been working.
    await consume(settings.kafka_bootstrap, [settings.topic_windows],
                  lambda got: len(got) >= 100)  # fmt: skip
    assert worker.stop() == 0, worker.log_tail()
    restarted = start_worker(extra_env=env).start()
    # Publishing into a stopped worker builds a backlog, replayed partition by partition;
    # repeat contacts are judged in arrival order, so wait for the worker as a live feed would.
    restarted.wait_ready()
    await publish_log(settings, log[half:])
    streamed = await collect_finals(settings, len(expected))
    assert_equal_to_batch(streamed, expected)


async def test_two_workers_split_partitions_and_produce_the_same_finals(
    broker, start_worker, standards_file
):
    settings, env, log, expected = await scenario(broker.bootstrap, "scaleout", standards_file, 23)
    first = start_worker(extra_env=env).start()
    second = start_worker(extra_env=env).start()
    first.wait_ready()
    second.wait_ready()
    await publish_log(settings, log)
    streamed = await collect_finals(settings, len(expected))
    assert_equal_to_batch(streamed, expected)
    for worker in (first, second):
        consumed = [line for line in worker.metrics_text().splitlines()
                    if line.startswith("servicepulse_events_consumed_total")]  # fmt: skip
        assert consumed, f"worker on {worker.web_port} got no partitions"


async def test_kill_9_under_load_loses_nothing_and_finals_equal_batch(
    broker, start_worker, standards_file
):
    """A worker killed with SIGKILL while both inputs stream in (no shutdown of any kind), then
    restarted: every feedback event is scored and the final windows equal the batch
    recomputation, so nothing was lost and nothing counted twice."""
    settings, env, log, expected = await scenario(broker.bootstrap, "kill9", standards_file, 24)
    worker = start_worker(extra_env=env).start()
    worker.wait_ready()
    body, after = split_log(log)
    publishing = asyncio.create_task(publish_events(settings, body))
    # Mid-stream: outputs are flowing and the publisher is still sending.
    await consume(settings.kafka_bootstrap, [settings.topic_windows],
                  lambda got: len(got) >= 50)  # fmt: skip
    assert not publishing.done(), "the log was published before the kill: not under load"
    assert worker.stop(signal.SIGKILL) == -signal.SIGKILL
    restarted = start_worker(extra_env=env).start()
    await publishing
    restarted.wait_ready()
    await wait_caught_up(settings)
    await publish_events(settings, after)
    await assert_nothing_lost(settings, log, expected)


async def assert_nothing_lost(
    settings: Settings, log: Events, expected: dict[tuple[Any, ...], Any]
) -> None:
    """The final windows equal the batch recomputation and every feedback event was scored."""
    streamed = await collect_finals(settings, len(expected))
    assert_equal_to_batch(streamed, expected)
    wanted = {event["event_id"] for kind, event in log if kind == "feedback"}
    scored = await consume(
        settings.kafka_bootstrap, [settings.topic_scored],
        lambda got: wanted <= {json.loads(r.value)["event_id"] for r in got}, timeout=120,
    )  # fmt: skip
    assert wanted <= {json.loads(r.value)["event_id"] for r in scored}
