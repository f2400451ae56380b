"""Output counters count what the broker acknowledged, not what was queued.

The dead-letter path runs here as the worker runs it (streams.deadletters.DeadLetters on a real
Faust topic); only the Kafka producer under it is replaced by one whose deliveries the test
settles, so "queued", "acknowledged" and "failed" can be told apart without a broker.
"""

from __future__ import annotations

import asyncio
import gc
from types import SimpleNamespace
from typing import Any

import faust
from aiokafka.structs import RecordMetadata, TopicPartition
from prometheus_client import CollectorRegistry

from servicepulse.processors.decoding import RejectCategory, Rejection
from servicepulse.streams.deadletters import DeadLetters
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings

COUNTED = "servicepulse_events_deadlettered_total"
LABELS = {"topic": "feedback.events", "category": "malformed_json"}


class HeldProducer:
    """Takes each send and hands back its delivery future, left pending for the test."""

    def __init__(self) -> None:
        self.deliveries: list[asyncio.Future[RecordMetadata]] = []

    async def send(self, topic: str, key: Any, value: Any, **_: Any) -> asyncio.Future[Any]:
        delivery: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        self.deliveries.append(delivery)
        return delivery


def acknowledged(offset: int) -> RecordMetadata:
    partition = TopicPartition("events.deadletter", 0)
    return RecordMetadata(partition.topic, 0, partition, offset, -1, 0, 0)


async def send_two_dead_letters() -> tuple[float | None, float | None]:
    """Two dead letters through the worker's DeadLetters; the first send is acknowledged, the
    second fails. The count once both are queued, and once both are settled."""
    app = faust.App("delivery-counts", broker="kafka://127.0.0.1:1", autodiscover=False)
    producer = HeldProducer()

    async def held() -> HeldProducer:
        return producer

    app.maybe_start_producer = held  # type: ignore[method-assign]
    registry = CollectorRegistry()
    dead_letters = DeadLetters(app, Settings(), Metrics(registry))
    rejection = Rejection(RejectCategory.MALFORMED_JSON, "not JSON")
    for offset in (1, 2):
        message = SimpleNamespace(topic="feedback.events", partition=0, offset=offset,
                                  key=b"k", value=b"{")  # fmt: skip
        await dead_letters.send(message, rejection, "gov.servicepulse.feedback.v1")
    assert len(producer.deliveries) == 2
    queued = registry.get_sample_value(COUNTED, LABELS)
    producer.deliveries[0].set_result(acknowledged(0))
    producer.deliveries[1].set_exception(RuntimeError("broker said no"))
    await asyncio.sleep(0)  # the delivery futures' done-callbacks run
    return queued, registry.get_sample_value(COUNTED, LABELS)


async def test_a_dead_letter_is_counted_when_acknowledged_and_never_when_its_send_fails() -> None:
    queued, settled = await send_two_dead_letters()
    # Faust leaves the failed send's exception on its FutureMessage, unretrieved, in a
    # reference cycle: collected now, its "never retrieved" finaliser runs here, not inside a
    # later import's ast.parse (CPython 3.11 then raises "AST constructor recursion depth
    # mismatch").
    gc.collect()
    assert not queued  # queued, not acknowledged: nothing counted yet
    assert settled == 1.0  # the acknowledged one; the failed one never
