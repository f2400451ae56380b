"""Records to the next stage leave as one record per destination partition, not one each.

Every record costs each hop its fetch, dispatch, acknowledgement and decode: about as much as
what scoring, case correlation or journeys then do with an event, or the windows stage with an
observation. So ingest gathers the events it re-keys, and those stages the observation records
they send the windows stage, for each (topic, partition), and sends them as one ``events`` or
``observations`` record (processors.envelope), in the order gathered:

* when the consumer has handed over what one fetch returned (``after_each_fetch``: a backlog's
  fetch brings hundreds of records, a live stream's usually one, so nothing waits at low load);
* when a destination holds ``max_items``, or the next would take it past ``max_bytes``;
* ``linger_seconds`` after the first item gathered, should nothing else send it;
* before the producer's flush, which Faust awaits before committing input offsets: an offset
  is never committed before what was made from the records read up to it was handed to the
  producer;
* before the stage sends a watermark record (``StageWatermarks(before_send=...)``): in each
  partition the records a watermark covers come before it.

Each record's delivery is followed by the worker's held writes (``follow``,
streams.delivery.HeldWrites.follow) from the moment its first item is gathered: state written
after any of its items waits for it, as it would for a record of its own, and a record the
broker refuses stops the worker (whose restart repeats what made it) instead of being lost.
Each item is still encoded on its own; a record is those bytes joined. With exactly once every
item leaves at once in a record of its own: it must join its source partition's transaction,
which a record gathered from several partitions could not.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import faust

from servicepulse.processors import envelope
from servicepulse.streams.consumer_dispatch import after_each_fetch
from servicepulse.streams.delivery import Sender, at_least_once, held_writes, sender
from servicepulse.streams.partitioner import partition_by_key

MAX_ITEMS = 500
# Far below a topic's default max.message.bytes (1 MiB): an event record is at most about
# SERVICEPULSE_MAX_EVENT_BYTES long, and one that alone is larger leaves alone.
MAX_BYTES = 256 * 1024
LINGER_SECONDS = 0.02


Encode = Callable[[Sequence[bytes]], bytes]
Follow = Callable[[asyncio.Future[Any]], None]


@dataclass(slots=True)
class _Gathered:
    topic: faust.TopicT
    delivered: asyncio.Future[Any]  # the record's delivery, once it is sent
    encoded: list[bytes] = field(default_factory=list)
    size: int = 0


class RecordBatches:
    """Encoded records gathered per destination (topic, partition), each destination's sent
    as one record (``encode`` joins them) by ``flush``."""

    def __init__(
        self, send: Sender, encode: Encode = envelope.encode_events, *,
        follow: Follow | None = None, max_items: int = MAX_ITEMS, max_bytes: int = MAX_BYTES,
        linger_seconds: float = LINGER_SECONDS,
    ) -> None:  # fmt: skip
        if not 0 < max_items <= envelope.MAX_EVENTS_PER_RECORD:
            raise ValueError(f"max_items must be 1 to {envelope.MAX_EVENTS_PER_RECORD}")
        self._send, self._encode, self._follow = send, encode, follow
        self.max_items, self.max_bytes, self.linger_seconds = max_items, max_bytes, linger_seconds
        self._gathered: dict[tuple[str, int], _Gathered] = {}
        # One flush at a time, each taking what was gathered when it starts: a later flush
        # cannot overtake an earlier one's records of the same partition.
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._lingering: asyncio.Future[None] | None = None
        self.records_sent = 0
        self.items_sent = 0

    async def add(
        self, topic: faust.TopicT, partitions: int, key: bytes, value: bytes
    ) -> asyncio.Future[Any]:
        """Gathers ``value`` (one encoded record) for the partition of ``key``, as Kafka's
        default partitioner would choose among ``partitions``; returns the delivery future of
        the record that will carry it."""
        partition = partition_by_key(key, range(partitions), ())
        slot = (topic.get_topic_name(), partition)
        gathered = self._gathered.get(slot)
        if gathered is not None and gathered.size + len(value) + 1 > self.max_bytes:
            await self.flush()  # a record stays under max_bytes, unless one event is larger
            gathered = self._gathered.get(slot)
        if gathered is None:
            delivered = asyncio.get_running_loop().create_future()
            gathered = self._gathered[slot] = _Gathered(topic, delivered)
            if self._follow is not None:
                self._follow(delivered)
        gathered.encoded.append(value)
        gathered.size += len(value) + 1
        if len(gathered.encoded) >= self.max_items:
            await self.flush()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.linger_seconds, self._linger_over)
        return gathered.delivered

    async def flush(self) -> None:
        """Hands every item gathered so far to the producer."""
        async with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            gathered, self._gathered = self._gathered, {}
            batches = list(gathered.items())
            for done, ((_, partition), batch) in enumerate(batches):
                try:
                    sent = await self._send(
                        batch.topic, key=None, value=self._encode(batch.encoded),
                        partition=partition,
                    )  # fmt: skip
                except BaseException as err:
                    # What waits for these records (held state) must not wait for ever.
                    for _, unsent in batches[done:]:
                        if isinstance(err, Exception):
                            unsent.delivered.set_exception(err)
                        else:
                            unsent.delivered.cancel()
                    raise
                sent.add_done_callback(functools.partial(_settle, batch.delivered))
                self.records_sent += 1
                self.items_sent += len(batch.encoded)

    def pending(self) -> int:
        """Items gathered and not yet handed to the producer."""
        return sum(len(batch.encoded) for batch in self._gathered.values())

    def _linger_over(self) -> None:
        self._timer = None
        if self._lingering is None or self._lingering.done():
            self._lingering = asyncio.ensure_future(self.flush())


def _settle(delivered: asyncio.Future[Any], sent: asyncio.Future[Any]) -> None:
    if delivered.done():
        return
    if sent.cancelled():
        delivered.cancel()
    elif (error := sent.exception()) is not None:
        delivered.set_exception(error)
    else:
        delivered.set_result(sent.result())


class SendAtOnce:
    """Exactly once: each item leaves at once in a record of its own, in its source's
    transaction. A record of several all the same (``encode`` of one): its items are numbered
    like a gathered one's (record offset × 1024 + index), so an app moved from at least once to
    exactly once does not number them below what the windows already hold, which would drop
    them as repeats."""

    def __init__(
        self, send: Sender, encode: Encode = envelope.encode_events, follow: Follow | None = None
    ) -> None:
        self._send, self._encode, self._follow = send, encode, follow

    async def add(
        self, topic: faust.TopicT, partitions: int, key: bytes, value: bytes
    ) -> asyncio.Future[Any]:
        delivered = await self._send(topic, key=key, value=self._encode([value]))
        if self._follow is not None:
            self._follow(delivered)
        return delivered

    async def flush(self) -> None:
        return None


Batches = RecordBatches | SendAtOnce


def event_batches(app: faust.App) -> Batches:
    """Ingest's gatherer of events records (created on first use)."""
    return _gatherer(app, "_servicepulse_event_batches", envelope.encode_events)


def observation_batches(app: faust.App) -> Batches:
    """The gatherer of the observation records sent to the windows stage (created on first
    use)."""
    return _gatherer(app, "_servicepulse_observation_batches", envelope.encode_observations)


def _gatherer(app: faust.App, attribute: str, encode: Encode) -> Batches:
    """One per worker and kind, flushed after each fetch and by the producer's flush."""
    found: Batches | None = getattr(app, attribute, None)
    if found is not None:
        return found
    # The held writes wrap the producer's flush first: this flush, wrapped around theirs,
    # runs before it, so the records it sends are among those the flush waits for.
    follow = held_writes(app).follow
    if not at_least_once(app):
        found = SendAtOnce(sender(app), encode, follow)
    else:
        batches = found = RecordBatches(sender(app), encode, follow=follow)
        _run_before_flush(app.producer, batches.flush)
        after_each_fetch(app, batches.flush)
    setattr(app, attribute, found)
    return found


def _run_before_flush(producer: Any, hook: Callable[[], Awaitable[None]]) -> None:
    flush: Callable[[], Awaitable[None]] = producer.flush

    async def flush_with_hook() -> None:
        await hook()
        await flush()

    producer.flush = flush_with_hook
