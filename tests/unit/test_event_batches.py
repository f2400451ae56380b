"""Events and observation records leave as one record per destination partition
(streams.batching).

The producer is a list the sender appends to; the Kafka path (a worker's events records read
by scoring, cases and journeys, through kill -9 and rebalances) is the integration tests'.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import orjson
import pytest

from servicepulse.processors import envelope
from servicepulse.streams.batching import (
    RecordBatches,
    SendAtOnce,
    event_batches,
    observation_batches,
)
from servicepulse.streams.partitioner import partition_by_key


class Topic:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name


class Producer:
    """What the worker's sender hands records to, in order; ``gate`` holds each send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int | None, bytes | None, bytes]] = []
        self.gate: asyncio.Event | None = None
        self.fail_with: Exception | None = None
        self.deliveries: list[asyncio.Future[Any]] = []  # the test acknowledges them

    async def send(
        self, topic: Topic, *, key: bytes | None, value: bytes, partition: int | None = None,
        callback: Any = None,
    ) -> Any:  # fmt: skip
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((topic.get_topic_name(), partition, key, value))
        delivery = asyncio.get_running_loop().create_future()
        self.deliveries.append(delivery)
        return delivery

    def events(self, topic: str, partition: int) -> list[bytes]:
        """The event records sent to one partition, in order, unwrapped."""
        found = []
        for name, at, _, value in self.sent:
            if (name, at) == (topic, partition):
                document = orjson.loads(value)
                assert document["type"] == "events"
                found += [orjson.dumps(item) for item in document["events"]]
        return found


def event(n: int) -> bytes:
    return orjson.dumps({"type": "interaction", "n": n})


def partition_of(key: bytes, partitions: int = 8) -> int:
    return partition_by_key(key, range(partitions), ())


async def test_events_for_one_partition_leave_in_one_record_in_order() -> None:
    producer = Producer()
    batches = RecordBatches(producer.send, linger_seconds=60)  # type: ignore[arg-type]
    topic = Topic("by-case")
    keys = [f"case-{n}".encode() for n in range(40)]
    for n, key in enumerate(keys):
        await batches.add(topic, 8, key, event(n))  # type: ignore[arg-type]
    assert producer.sent == [] and batches.pending() == 40
    await batches.flush()
    partitions = {partition_of(key) for key in keys}
    assert len(producer.sent) == len(partitions) and batches.pending() == 0
    for partition in partitions:
        wanted = [event(n) for n, key in enumerate(keys) if partition_of(key) == partition]
        assert producer.events("by-case", partition) == wanted
    assert all(key is None for _, _, key, _ in producer.sent)
    assert (batches.records_sent, batches.items_sent) == (len(partitions), 40)


async def test_two_topics_are_gathered_apart() -> None:
    producer = Producer()
    batches = RecordBatches(producer.send, linger_seconds=60)  # type: ignore[arg-type]
    await batches.add(Topic("a"), 8, b"same", event(1))  # type: ignore[arg-type]
    await batches.add(Topic("b"), 8, b"same", event(2))  # type: ignore[arg-type]
    await batches.flush()
    partition = partition_of(b"same")
    assert producer.events("a", partition) == [event(1)]
    assert producer.events("b", partition) == [event(2)]


async def test_a_full_partition_leaves_at_once() -> None:
    producer = Producer()
    batches = RecordBatches(
        producer.send,
        max_items=3,
        linger_seconds=60,  # type: ignore[arg-type]
    )
    for n in range(7):
        await batches.add(Topic("t"), 8, b"one-key", event(n))  # type: ignore[arg-type]
    partition = partition_of(b"one-key")
    assert [len(orjson.loads(value)["events"]) for *_, value in producer.sent] == [3, 3]
    await batches.flush()
    assert producer.events("t", partition) == [event(n) for n in range(7)]


async def test_a_partition_at_its_byte_limit_leaves_at_once() -> None:
    producer = Producer()
    large = orjson.dumps({"type": "feedback", "comment": "x" * 600})
    batches = RecordBatches(
        producer.send,
        max_bytes=1500,
        linger_seconds=60,  # type: ignore[arg-type]
    )
    for _ in range(3):
        await batches.add(Topic("t"), 8, b"k", large)  # type: ignore[arg-type]
    assert len(producer.sent) == 1 and batches.pending() == 1
    assert all(len(value) < 1500 + 100 for *_, value in producer.sent)


async def test_what_nothing_else_sends_leaves_after_the_linger() -> None:
    producer = Producer()
    batches = RecordBatches(producer.send, linger_seconds=0.05)  # type: ignore[arg-type]
    await batches.add(Topic("t"), 8, b"k", event(1))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    assert producer.sent == []
    await asyncio.sleep(0.2)
    assert producer.events("t", partition_of(b"k")) == [event(1)]


async def test_a_flush_waits_for_the_one_before_and_never_overtakes_it() -> None:
    """Records of one partition leave in order even when a second flush starts while the
    first is still handing its records over (the producer's buffer was full)."""
    producer = Producer()
    producer.gate = asyncio.Event()
    batches = RecordBatches(producer.send, linger_seconds=60)  # type: ignore[arg-type]
    await batches.add(Topic("t"), 8, b"k", event(1))  # type: ignore[arg-type]
    first = asyncio.ensure_future(batches.flush())
    await asyncio.sleep(0)
    await batches.add(Topic("t"), 8, b"k", event(2))  # type: ignore[arg-type]
    second = asyncio.ensure_future(batches.flush())
    await asyncio.sleep(0.01)
    assert not second.done()
    producer.gate.set()
    await asyncio.wait_for(asyncio.gather(first, second), 1)
    assert producer.events("t", partition_of(b"k")) == [event(1), event(2)]
    assert len(producer.sent) == 2


async def test_a_flush_with_nothing_gathered_sends_nothing() -> None:
    producer = Producer()
    batches = RecordBatches(producer.send)  # type: ignore[arg-type]
    await batches.flush()
    assert producer.sent == []


def test_more_events_per_record_than_origins_can_number_are_refused() -> None:
    with pytest.raises(ValueError, match="max_items"):
        RecordBatches(Producer().send, max_items=envelope.MAX_EVENTS_PER_RECORD + 1)  # type: ignore[arg-type]


async def test_exactly_once_sends_each_event_in_its_own_record_at_once() -> None:
    """An events record of one: numbered like a gathered one's, so switching an app from at
    least once to exactly once keeps its events' origin offsets rising."""
    producer = Producer()
    at_once = SendAtOnce(producer.send)  # type: ignore[arg-type]
    await at_once.add(Topic("t"), 8, b"k", event(1))  # type: ignore[arg-type]
    assert producer.sent == [("t", None, b"k", envelope.encode_events([event(1)]))]


async def test_the_worker_s_flush_sends_what_was_gathered_before_the_commit() -> None:
    """Faust flushes the producer before committing offsets: the gathered events must be
    among what that flush waits for, or an offset could be committed before its events left."""
    app = faust.App("batching-test-1", broker="kafka://127.0.0.1:1")
    sent: list[Any] = []

    class Producer:
        async def flush(self) -> None:
            sent.append("flushed")

    app.producer = Producer()  # type: ignore[assignment]
    batches = event_batches(app)
    assert isinstance(batches, RecordBatches)
    assert event_batches(app) is batches  # one per worker

    async def record(topic: Any, **kwargs: Any) -> asyncio.Future[Any]:
        sent.append(orjson.loads(kwargs["value"])["events"])
        delivered = asyncio.get_running_loop().create_future()
        delivered.set_result("acked")  # the flush waits for it: the held writes follow it
        return delivered

    batches._send = record  # type: ignore[assignment]
    await batches.add(Topic("t"), 8, b"k", event(1))  # type: ignore[arg-type]
    await app.producer.flush()
    # Sent before the producer's flush (which runs again once the held writes followed it).
    assert sent[:2] == [[{"type": "interaction", "n": 1}], "flushed"]
    assert batches.flush in app._servicepulse_after_fetch  # type: ignore[attr-defined]


def test_exactly_once_workers_do_not_gather() -> None:
    app = faust.App(
        "batching-test-2", broker="kafka://127.0.0.1:1", processing_guarantee="exactly_once"
    )
    assert isinstance(event_batches(app), SendAtOnce)


async def test_each_item_s_future_is_its_record_s_delivery() -> None:
    """What waits for an item (held state) waits for the one record that carries it."""
    producer = Producer()
    batches = RecordBatches(producer.send, linger_seconds=60)  # type: ignore[arg-type]
    topic = Topic("by-case")
    first = await batches.add(topic, 8, b"case-1", event(1))  # type: ignore[arg-type]
    again = await batches.add(topic, 8, b"case-1", event(2))  # type: ignore[arg-type]
    assert again is first and not first.done()
    await batches.flush()
    later = await batches.add(topic, 8, b"case-1", event(3))  # type: ignore[arg-type]
    assert later is not first
    producer.deliveries[0].set_result("acked")
    await asyncio.sleep(0)
    assert first.result() == "acked" and not later.done()


async def test_a_send_that_fails_fails_every_record_it_did_not_send() -> None:
    producer = Producer()
    batches = RecordBatches(producer.send, linger_seconds=60)  # type: ignore[arg-type]
    topic = Topic("by-case")
    futures = [await batches.add(topic, 8, f"case-{n}".encode(), event(n))  # type: ignore[arg-type]
               for n in range(20)]  # fmt: skip
    producer.fail_with = RuntimeError("broker gone")
    with pytest.raises(RuntimeError):
        await batches.flush()
    assert all(isinstance(f.exception(), RuntimeError) for f in futures)


def test_observations_are_gathered_apart_from_events_in_observations_records() -> None:
    app = faust.App("batching-test-3", broker="kafka://127.0.0.1:1")
    gathered = observation_batches(app)
    assert isinstance(gathered, RecordBatches)
    assert gathered is observation_batches(app) and gathered is not event_batches(app)
    assert gathered._encode is envelope.encode_observations
    assert gathered.flush in app._servicepulse_after_fetch  # type: ignore[attr-defined]


async def test_each_record_is_followed_once_from_its_first_item() -> None:
    """The worker's held writes follow each record from its first item on: state written after
    any item of it waits for its delivery, and a record the broker refuses stops the worker."""
    producer, followed = Producer(), []
    batches = RecordBatches(producer.send, follow=followed.append, linger_seconds=60)  # type: ignore[arg-type]
    topic = Topic("by-case")
    first = await batches.add(topic, 8, b"case-1", event(1))  # type: ignore[arg-type]
    assert followed == [first]
    await batches.add(topic, 8, b"case-1", event(2))  # type: ignore[arg-type]
    assert followed == [first]
    other = await batches.add(topic, 8, b"case-9", event(3))  # type: ignore[arg-type]
    assert followed == ([first] if other is first else [first, other])
    at_once, one_by_one = SendAtOnce(producer.send, follow=followed.append), []  # type: ignore[arg-type]
    for n in range(2):
        one_by_one.append(await at_once.add(topic, 8, b"k", event(n)))  # type: ignore[arg-type]
    assert followed[-2:] == one_by_one
