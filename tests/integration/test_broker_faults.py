"""Broker faults: a worker never runs on without its topics, and always stops when told.

Each test has a broker of its own, since it stops or restarts it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from servicepulse.devtools.broker import EmbeddedBroker, free_port
from servicepulse.streams.settings import Settings
from servicepulse.streams.topics import ensure_topics
from tests.integration.support import WorkerProcess, wait_for

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
