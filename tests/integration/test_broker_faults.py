"""Broker faults: a worker never runs on without its topics, and always stops when told.

Each test has a broker of its own, since it stops or restarts it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest

from servicepulse.devtools.broker import EmbeddedBroker, free_port
from servicepulse.streams.settings import Settings
from servicepulse.streams.topics import ensure_topics
from tests.integration.support import WorkerProcess, consume, produce, wait_for
from tests.integration.test_internal_errors import good_records_reach_every_agent

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _died(worker: WorkerProcess) -> bool:
    return worker.process is not None and worker.process.poll() is not None


def test_a_broker_restarted_empty_makes_the_worker_exit_naming_the_lost_topics(
    tmp_path: Path,
) -> None:
    port = free_port()
    broker = EmbeddedBroker(port).start()
    worker = WorkerProcess(broker.bootstrap, tmp_path,
                           extra_env={"SERVICEPULSE_TOPIC_CHECK_SECONDS": "2"})  # fmt: skip
    try:
        asyncio.run(ensure_topics(Settings(kafka_bootstrap=broker.bootstrap)))
        worker.start().wait_ready(120)
        # Memory storage: the broker comes back on the same address with nothing on it.
        broker.stop()
        broker = EmbeddedBroker(port).start()
        wait_for(lambda: _died(worker), 120, "the worker to exit")
        assert worker.process is not None and worker.process.returncode == 4
        log = worker.log_tail(200)
        assert "topic(s) this worker uses are gone from the broker" in log, log
        assert "feedback.events" in log and "changelog" in log, log
    finally:
        worker.stop()
        broker.stop()


def test_sigterm_stops_the_worker_in_bounded_time_even_with_the_broker_gone(
    tmp_path: Path,
) -> None:
    broker = EmbeddedBroker(free_port()).start()
    worker = WorkerProcess(broker.bootstrap, tmp_path,
                           extra_env={"SERVICEPULSE_SHUTDOWN_TIMEOUT_SECONDS": "10"})  # fmt: skip
    try:
        asyncio.run(ensure_topics(Settings(kafka_bootstrap=broker.bootstrap)))
        worker.start().wait_ready(120)
        broker.stop()  # a stop now waits on commits and a producer flush that cannot succeed
        assert worker.process is not None
        started = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)
        # The bound plus process teardown; a hang would hit the wait's own timeout.
        worker.process.wait(60)
        assert time.monotonic() - started < 10 + 30
        assert worker.process.returncode in (0, 1)
    finally:
        worker.stop()
        broker.stop()


def _feedback(n: int) -> bytes:
    return json.dumps({"event_id": f"restore-{n}", "occurred_at": "2026-11-02T08:00:00Z",
                       "agency": "ssa", "service": "benefits", "channel": "web",
                       "csat": 4}).encode()  # fmt: skip


async def _scored(settings: Settings, wanted: set[str]) -> None:
    await consume(
        settings.kafka_bootstrap, [settings.topic_scored],
        lambda got: wanted <= {json.loads(r.value)["event_id"] for r in got}, timeout=120,
    )  # fmt: skip


# A value of the wrong shape for each table, under a key the next good events use
# (tests.integration.test_internal_errors.good_records_reach_every_agent; the windows'
# partition entry on every watermark record): restored, each would fail its agent on those
# events, or on every event or timer pass over the table.
WRONG_SHAPES = {
    "feedback-seen-event-ids": ("restore-3", 40),
    "cases": ("case-run", [1, 2]),
    "customers": ("c-run", {"journey": 1, "contacts": None}),
    "window-panes": ("w|0", {"wm": "soon", "tracker": None, "groups": []}),
    "alert-states": ("va|benefits|phone|time_to_first_response", "firing"),
    "benchmark-latest": ("va|benefits|phone|time_to_first_response", {"compliance": "high"}),
    "public-days": ("va|benefits|2026-11-02", []),
}


def test_changelog_records_that_cannot_be_restored_are_skipped_logged_and_counted(
    tmp_path: Path,
) -> None:
    broker = EmbeddedBroker(free_port()).start()
    worker = WorkerProcess(broker.bootstrap, tmp_path, app_id="sp-restore")
    restarted = WorkerProcess(broker.bootstrap, tmp_path, app_id="sp-restore")
    try:
        settings = Settings(kafka_bootstrap=broker.bootstrap, app_id="sp-restore")
        asyncio.run(ensure_topics(settings))
        worker.start().wait_ready(120)
        asyncio.run(produce(settings.kafka_bootstrap, settings.topic_feedback,
                            [(None, _feedback(n)) for n in range(10)]))  # fmt: skip
        asyncio.run(_scored(settings, {f"restore-{n}" for n in range(10)}))
        assert worker.stop() == 0
        seen_ids = "sp-restore-feedback-seen-event-ids-changelog"
        garbage = [(b"\xffnot json", b"1"), (b'"restore-x"', b"{not json"), (b"123", b"1")]
        asyncio.run(produce(settings.kafka_bootstrap, seen_ids, garbage))
        for table, (key, value) in WRONG_SHAPES.items():
            record = (json.dumps(key).encode(), json.dumps(value).encode())
            topic = f"sp-restore-{table}-changelog"
            asyncio.run(produce(settings.kafka_bootstrap, topic, [record]))
        restarted.start().wait_ready(120)  # recovery neither hangs nor crashes
        asyncio.run(produce(settings.kafka_bootstrap, settings.topic_feedback,
                            [(None, _feedback(n)) for n in range(10, 20)]))  # fmt: skip
        asyncio.run(_scored(settings, {f"restore-{n}" for n in range(10, 20)}))
        # Every flow processes the next good events, on the keys of the skipped values.
        asyncio.run(good_records_reach_every_agent(settings))
        metrics = restarted.metrics_text()
        for table in WRONG_SHAPES:
            skipped = 4 if table == "feedback-seen-event-ids" else 1
            assert (f'servicepulse_changelog_records_skipped_total{{table="{table}"}} '
                    f'{skipped}.0') in metrics, metrics  # fmt: skip
        log = restarted.log_tail(2000)
        assert f"changelog record {seen_ids}[" in log and "skipped" in log, log
        for table in WRONG_SHAPES:
            assert f"table {table}: changelog record sp-restore-{table}-changelog[" in log, log
        assert "does not fit the table: .wm expected float or null, got 'soon'" in log, log
        assert "internal_error" not in log, log  # no agent failed on any event
    finally:
        worker.stop()
        restarted.stop()
        broker.stop()
