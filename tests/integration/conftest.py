from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from servicepulse.devtools.broker import EmbeddedBroker, free_port
from servicepulse.streams.settings import Settings
from servicepulse.streams.topics import ensure_topics
from tests.integration.support import WorkerProcess


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    """A fresh embedded Tansu broker per test module (memory storage: nothing leaks between)."""
    with EmbeddedBroker(free_port()) as embedded:
        yield embedded


@pytest.fixture(scope="module")
def settings(broker: EmbeddedBroker) -> Settings:
    configured = Settings(kafka_bootstrap=broker.bootstrap)
    asyncio.run(ensure_topics(configured))
    return configured


@pytest.fixture
def start_worker(
    broker: EmbeddedBroker, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[type[WorkerProcess]]:
    started: list[WorkerProcess] = []

    class _Worker(WorkerProcess):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(broker.bootstrap, tmp_path, **kwargs)  # type: ignore[arg-type]
            started.append(self)

    yield _Worker
    failed = request.node.rep_call.failed if hasattr(request.node, "rep_call") else False
    for worker in started:
        if failed:
            # What a stalled worker was waiting for and where its consumer stood, taken before
            # it is stopped: a hang leaves no log line of its own.
            print(f"--- worker on port {worker.web_port}: state dump, lag, stacks ---")
            print(worker.diagnostics())
        worker.stop()
        if failed:
            print(f"--- log of worker on port {worker.web_port} ---\n{worker.log_tail()}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
