"""Ingest's re-keyed events leave as one record per destination partition, not one per event.

Every record costs each hop its fetch, dispatch, acknowledgement and decode: about as much as
what scoring, case correlation or journeys then do with the event. So ingest gathers the
events it re-keys for each (topic, partition) and sends them as one ``events`` record
(processors.envelope), in input order:

* when the consumer has handed over what one fetch returned (``after_each_fetch``: a backlog's
  fetch brings hundreds of records, a live stream's usually one, so nothing waits at low load);
* when a destination holds ``max_events`` events, or the next would take it past ``max_bytes``;
* ``linger_seconds`` after the first event gathered, should nothing else send it;
* before the producer's flush, which Faust awaits before committing input offsets: an offset
  is never committed before the events read up to it were handed to the producer;
* before ingest sends a watermark record (``StageWatermarks(before_send=...)``): in each
  partition the events a watermark covers come before it.

Each event is still encoded on its own; a record is those bytes joined. With exactly once
every event leaves at once in its own record: it must join its source partition's transaction,
which an events record gathered from several partitions could not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust

from servicepulse.processors import envelope
from servicepulse.streams.consumer_dispatch import after_each_fetch
from servicepulse.streams.delivery import Sender, at_least_once, held_writes, sender
from servicepulse.streams.partitioner import partition_by_key

MAX_EVENTS = 500
# Far below a topic's default max.message.bytes (1 MiB): an event record is at most about
# SERVICEPULSE_MAX_EVENT_BYTES long, and one that alone is larger leaves alone.
MAX_BYTES = 256 * 1024
LINGER_SECONDS = 0.02


@dataclass(slots=True)
class _Gathered:
    topic: faust.TopicT
    encoded: list[bytes] = field(default_factory=list)
    size: int = 0


class EventBatches:
    """Event records gathered per destination (topic, partition), sent by ``flush``."""

    def __init__(
        self, send: Sender, *, max_events: int = MAX_EVENTS,
        max_bytes: int = MAX_BYTES, linger_seconds: float = LINGER_SECONDS,
    ) -> None:  # fmt: skip
        if not 0 < max_events <= envelope.MAX_EVENTS_PER_RECORD:
            raise ValueError(f"max_events must be 1 to {envelope.MAX_EVENTS_PER_RECORD}")
        self._send = send
        self.max_events, self.max_bytes, self.linger_seconds = max_events, max_bytes, linger_seconds
        self._gathered: dict[tuple[str, int], _Gathered] = {}
        # One flush at a time, each taking what was gathered when it starts: a later flush
        # cannot overtake an earlier one's records of the same partition.
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._lingering: asyncio.Future[None] | None = None
        self.records_sent = 0
        self.events_sent = 0

    async def add(self, topic: faust.TopicT, partitions: int, key: bytes, value: bytes) -> None:
        """Gathers ``value`` (one encoded event record) for the partition of ``key``, as
        Kafka's default partitioner would choose among ``partitions``."""
        partition = partition_by_key(key, range(partitions), ())
        slot = (topic.get_topic_name(), partition)
        gathered = self._gathered.get(slot)
        if gathered is not None and gathered.size + len(value) + 1 > self.max_bytes:
            await self.flush()  # a record stays under max_bytes, unless one event is larger
            gathered = self._gathered.get(slot)
        if gathered is None:
            gathered = self._gathered[slot] = _Gathered(topic)
        gathered.encoded.append(value)
        gathered.size += len(value) + 1
        if len(gathered.encoded) >= self.max_events:
            await self.flush()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.linger_seconds, self._linger_over)

    async def flush(self) -> None:
        """Hands every event gathered so far to the producer."""
        async with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            gathered, self._gathered = self._gathered, {}
            for (_, partition), batch in gathered.items():
                await self._send(
                    batch.topic, key=None, value=envelope.encode_events(batch.encoded),
                    partition=partition,
                )  # fmt: skip
                self.records_sent += 1
                self.events_sent += len(batch.encoded)

    def pending(self) -> int:
        """Events gathered and not yet handed to the producer."""
        return sum(len(batch.encoded) for batch in self._gathered.values())

    def _linger_over(self) -> None:
        self._timer = None
        if self._lingering is None or self._lingering.done():
            self._lingering = asyncio.ensure_future(self.flush())


class SendAtOnce:
    """Exactly once: each event leaves at once in a record of its own, in its source's
    transaction. An events record all the same: its events are numbered like a gathered one's
    (record offset × 1024 + index), so an app moved from at least once to exactly once does not
    give its events origin offsets below those the windows already hold, which would drop them
    as repeats."""

    def __init__(self, send: Sender) -> None:
        self._send = send

    async def add(self, topic: faust.TopicT, partitions: int, key: bytes, value: bytes) -> None:
        await self._send(topic, key=key, value=envelope.encode_events([value]))

    async def flush(self) -> None:
        return None


def event_batches(app: faust.App) -> EventBatches | SendAtOnce:
    """The worker's one gatherer (created on first use), flushed after each fetch and by the
    producer's flush."""
    found: EventBatches | SendAtOnce | None = getattr(app, "_servicepulse_event_batches", None)
    if found is not None:
        return found
    if not at_least_once(app):
        found = SendAtOnce(sender(app))
    else:
        # The held writes wrap the producer's flush first: this flush, wrapped around theirs,
        # runs before it, so the records it sends are among those the flush waits for.
        held_writes(app)
        batches = found = EventBatches(sender(app))
        _run_before_flush(app.producer, batches.flush)
        after_each_fetch(app, batches.flush)
    app._servicepulse_event_batches = found  # type: ignore[attr-defined]
    return found


def _run_before_flush(producer: Any, hook: Callable[[], Awaitable[None]]) -> None:
    flush: Callable[[], Awaitable[None]] = producer.flush

    async def flush_with_hook() -> None:
        await hook()
        await flush()

    producer.flush = flush_with_hook

