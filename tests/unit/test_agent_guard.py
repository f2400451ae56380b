"""streams.deadletters.run_agent: a record the handler fails on is dead-lettered, and the loop
goes on (fakes stand in for the Faust app: the guard's logic, not Kafka, is under test)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from servicepulse.streams import topology
from servicepulse.streams.deadletters import DeadLetters, run_agent
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings


class FakeTopic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []

    async def send(
        self, key: bytes | None, value: bytes, callback: Callable[[Any], None] | None = None
    ) -> None:
        self.sent.append((key, value))
        if callback is not None:
            callback(None)  # acknowledged at once (tests/unit/test_delivery_counts: when not)


class FakeApp:
    def __init__(self) -> None:
        self.topics: dict[str, FakeTopic] = {}
        self.agents: dict[str, Any] = {}

    def topic(self, name: str, **_: Any) -> FakeTopic:
        return self.topics.setdefault(name, FakeTopic())

    def agent(self, topic: FakeTopic, name: str) -> Any:
        return lambda fn: self.agents.setdefault(name, fn)


class FakeStream:
    def __init__(self, messages: list[Any]) -> None:
        self.messages = messages

    async def events(self) -> AsyncIterator[Any]:
        for message in self.messages:
            yield SimpleNamespace(message=message)


def message(offset: int, value: bytes) -> Any:
    return SimpleNamespace(topic="sp-in", partition=0, offset=offset, key=b"k", value=value)


def test_a_failing_record_is_dead_lettered_and_the_next_one_processed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, settings = FakeApp(), Settings()
    metrics = Metrics(CollectorRegistry())
    handled: list[int] = []

    async def handle(msg: Any) -> None:
        if msg.value == b"boom":
            raise KeyError("missing")
        handled.append(msg.offset)

    declared = topology.Agent("a", topology.OBSERVATIONS_BY_GROUP)
    dead_letters = DeadLetters(app, settings, metrics)  # type: ignore[arg-type]
    run_agent(app, settings, dead_letters, declared, handle)  # type: ignore[arg-type]
    stream = FakeStream([message(0, b"ok"), message(1, b"boom"), message(2, b"ok")])
    with caplog.at_level(logging.ERROR):
        asyncio.run(app.agents["a"](stream))
    assert handled == [0, 2]
    [(key, value)] = app.topics[settings.topic_deadletter].sent
    letter = json.loads(value)
    assert key == b"k"
    assert letter["category"] == "internal_error"
    assert letter["source"] == {"topic": "sp-in", "partition": 0, "offset": 1}
    assert letter["expected_type"] == declared.source.carries == "internal:observation"
    assert "KeyError" in letter["reason"]
    assert metrics.events_deadlettered.labels("sp-in", "internal_error")._value.get() == 1
    [logged] = caplog.records
    assert logged.exc_info is not None
