"""Outputs before state, on the broker as well as in the code.

Every flow sends a record's outputs and only then writes the state that says the record was
handled, so a worker stopped in between re-emits the outputs on restart (downstream drops the
repeats: by event_id, by origin offset) instead of losing them. Sending is not delivering:
`topic.send` only queues a record, and aiokafka sends each partition's batches on their own
(one in flight per partition, after a linger), so a changelog write queued after an output
can reach the broker first. Under kill -9 the restored state then says "done" for an output
that never arrived: an observation lost, a final window never sent.

So the tables' changelog writes are *held*: one queue per worker holds, in order, the outputs
sent through it and the changelog writes made after them. A write leaves for its changelog
only once every output queued before it has been acknowledged by the broker. The table in
memory changes at once (the next record sees it); only its changelog waits, so nothing waits
per record and the producer still batches. Faust commits input offsets after flushing the
producer; the flush is extended to wait until the held writes have left and been delivered too,
so a committed offset never runs ahead of the state it produced.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from faust.types import ProcessingGuarantee

log = logging.getLogger(__name__)

DeliveryCallback = Callable[[Any], None]


class Sender(Protocol):
    """Queues a record for a topic and returns its delivery future (`sender(app)`)."""

    async def __call__(
        self, topic: faust.TopicT, *, key: bytes | None, value: bytes,
        partition: int | None = None, callback: DeliveryCallback | None = None,
    ) -> asyncio.Future[Any]: ...  # fmt: skip


def sender(app: faust.App) -> Sender:
    """How the worker's agents send a record, chosen once per app (read at registration, not
    per record: Faust's settings lookups are not free on the hot path).

    At least once, straight on Faust's aiokafka producer: ``Topic.send`` wraps every record in
    a FutureMessage, a PendingMessage, a producer lookup and four sensor calls, a tenth of the
    worker's CPU at one event per five records (benchmarks/README.md). The record takes the
    same producer, partitioner and flush (Faust flushes it before committing offsets).
    Exactly once goes through Faust: the record must join the source partition's transaction.
    """
    found: Sender | None = getattr(app, "_servicepulse_sender", None)
    if found is None:
        found = functools.partial(send_now if at_least_once(app) else _send_via_faust, app)
        app._servicepulse_sender = found  # type: ignore[attr-defined]
    return found


def at_least_once(app: faust.App) -> bool:
    guarantee: Any = app.conf.processing_guarantee  # typed as the enum class in Faust
    return guarantee is ProcessingGuarantee.AT_LEAST_ONCE


async def send_now(
    app: faust.App, topic: faust.TopicT, *, key: bytes | None, value: bytes,
    partition: int | None = None, callback: DeliveryCallback | None = None,
) -> asyncio.Future[Any]:  # fmt: skip
    """Queues a record on the worker's producer; returns its delivery future. ``callback`` is
    called with the record's metadata once the broker acknowledged it (not on failure)."""
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    future: asyncio.Future[Any] = await producer.send(
        topic.get_topic_name(), value, key=key, partition=partition
    )
    if callback is not None:
        future.add_done_callback(_on_success(callback))
    return future


async def _send_via_faust(
    app: faust.App, topic: faust.TopicT, *, key: bytes | None, value: bytes,
    partition: int | None = None, callback: DeliveryCallback | None = None,
) -> asyncio.Future[Any]:  # fmt: skip
    sent = await topic.send(key=key, value=value, partition=partition, callback=callback)
    return asyncio.ensure_future(sent)


def _on_success(callback: DeliveryCallback) -> Callable[[asyncio.Future[Any]], None]:
    def delivered(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            callback(future.result())

    return delivered


@dataclass(slots=True)
class _Write:
    table: Any  # a RestorableTable (streams.restore)
    partition: int
    key: Any
    value: Any
    deleted: bool
    superseded: bool = False  # a later write of the key replaced it before it left


class HeldWrites:
    """One worker's queue of outputs and the changelog writes that must follow them.

    Released writes leave in queue order from one sender task, straight on the producer
    (``send``), unless ``changelog_via_faust``: with exactly once they must join the source
    partition's transaction, which Faust's ``Table.send_changelog`` does.

    In a table whose rows stand alone (``table.coalesce_writes``), a write still held when a
    later write of the same key is queued is dropped: the later one carries the key's newer
    value, leaves at its own place (after every output before it) and a restore reads only a
    key's last value anyway. A busy group's alert state is written many times while the
    outputs before it are in flight. Not in other tables: there a stop may leave any prefix of
    the writes on the broker, and without the dropped write a prefix can hold rows no step
    ever wrote together (the panes a watermark step deleted, without the watermark entry
    written before them: its finals would be sent again without those panes). Not while a
    flush waits either: it waits for the writes queued before it, and a replacement queued
    after it would not be among them.

    Such a write, once released, is also *parked* until the next commit's flush (at most
    ``park_seconds``): the newest write of each key leaves then, and the ones it replaced never
    do. A case, a customer or an alert state is written once per event, and in a backlog its
    events come seconds apart; parked, it is written about once per commit. Nothing is lost:
    offsets are committed only after the flush has sent the parked writes, so a stop before it
    reprocesses the records that made them. A revoke flushes too, before another worker
    restores the partition.

    A table whose rows depend on each other may still park two kinds of rows:

    * rows under ``table.parked_prefix`` stand alone (the window panes: each pane is written
      once per observation, and knows by its offsets what it holds). Parked again, a row keeps
      the place of its first parked write;
    * rows under ``table.floor_prefix`` vouch for every write made before them (a window meta:
      its offsets say that everything up to them was applied). Parked again, a row moves to
      the place of its newest write.

    Parked rows leave in the order of their places, so each floor row leaves after every parked
    row written before its newest version, at that version or a newer one: every prefix of the
    changelog that holds a floor row holds what it vouches for. Any other write of the table's
    partition (a watermark entry, a deletion) is a barrier: the partition's parked rows leave
    first, so every prefix holding the barrier holds each row written before it, at that
    version or a newer one.
    """

    def __init__(
        self, app: faust.App, send: Sender, *, changelog_via_faust: bool = False,
        park_seconds: float | None = None,
    ) -> None:  # fmt: skip
        self.app = app
        self._send = send
        self._changelog_via_faust = changelog_via_faust
        # Released parkable writes per (table, partition): the newest per key, with its place.
        self._parked: dict[tuple[int, int], dict[Any, tuple[int, _Write]]] = {}
        self._park_seconds = park_seconds
        self._unpark_timer: asyncio.TimerHandle | None = None
        self._queue: deque[asyncio.Future[Any] | _Write] = deque()
        # Released writes waiting for the sender task, each with its place in the queue.
        self._outbox: deque[tuple[int, _Write]] = deque()
        self._sender: asyncio.Future[None] | None = None
        self._failed: BaseException | None = None
        # Items ever queued and ever taken off the queue, so a flush waits for what was queued
        # before it, not for a moment when the queue is empty (under load it may never be).
        self._queued = 0
        self._popped = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        # Every place below this one some flush has waited for (the places only grow).
        self._awaited = 0
        # The newest held write of each (table, partition, key), and how many were dropped.
        self._held: dict[tuple[int, int, Any], _Write] = {}
        self.coalesced = 0
        self._crashing: asyncio.Future[Any] | None = None
        self._wrap_flush(app.producer)

    async def send(
        self, topic: faust.TopicT, *, key: bytes | None, value: bytes,
        partition: int | None = None, callback: DeliveryCallback | None = None,
    ) -> None:  # fmt: skip
        """Sends an output; changelog writes made after this wait for its delivery.
        ``callback``: called once the broker acknowledged it."""
        self.follow(
            await self._send(topic, key=key, value=value, partition=partition, callback=callback)
        )

    def follow(self, delivery: asyncio.Future[Any]) -> None:
        """An output sent some other way (a record gathered with others, streams.batching):
        changelog writes made after this wait for ``delivery``."""
        self._queue.append(delivery)
        self._queued += 1
        delivery.add_done_callback(self._on_delivered)

    def write(self, table: Any, partition: int, key: Any, value: Any, *, deleted: bool) -> None:
        """A table's changelog record, sent once the outputs queued before it are delivered."""
        write = _Write(table, partition, key, value, deleted)
        if table.coalesce_writes:
            slot = (id(table), partition, key)
            earlier = self._held.get(slot)
            if earlier is not None and not self._waiters:
                earlier.superseded = True
                self.coalesced += 1
            self._held[slot] = write
        self._queue.append(write)
        self._queued += 1
        self._release()

    def describe(self) -> str:
        """One line for the state dump (streams.diagnose)."""
        head = self._queue[0] if self._queue else None
        state = (
            f"future done={head.done()}" if isinstance(head, asyncio.Future)
            else type(head).__name__
        )  # fmt: skip
        return (
            f"queued={self._queued} released={self._progress()} in queue={len(self._queue)} "
            f"head={state} to send={len(self._outbox)} "
            f"parked={sum(len(rows) for rows in self._parked.values())} "
            f"waiters={len(self._waiters)} coalesced={self.coalesced}"
        )

    def _progress(self) -> int:
        """Every item queued before this place has been delivered or handed to the producer."""
        return self._outbox[0][0] if self._outbox else self._popped

    async def released(self) -> None:
        """Until every write held so far has been handed to the producer."""
        self._unpark()
        if self._progress() >= self._queued or self._failed is not None:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((self._queued, waiter))
        self._awaited = max(self._awaited, self._queued)
        await waiter

    def _fail(self, reason: BaseException, what: str) -> None:
        if self._failed is None:
            self._failed = reason
            # The state for this output stays unwritten and the input uncommitted: stop, and a
            # restart processes the record again.
            log.error("%s could not be delivered (%r): stopping the worker", what, reason)
            self._crashing = asyncio.ensure_future(self.app.crash(reason))

    def _on_delivered(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and (error := future.exception()) is not None:
            self._fail(error, "an output")
        self._release()

    def _release(self) -> None:
        queue = self._queue
        while queue and self._failed is None:
            head = queue[0]
            if isinstance(head, asyncio.Future):
                if not head.done():
                    break
            elif not self._leaves(head):
                pass  # replaced by a later write of its key, which leaves in its own place
            elif self._changelog_via_faust:
                value, serializer = (None, "raw") if head.deleted else (head.value, None)
                head.table.send_changelog(
                    head.partition, head.key, value, value_serializer=serializer
                )
            elif self._parks(head):
                self._park(head)
            else:
                if head.table.parked_prefix is not None or head.table.floor_prefix is not None:
                    self._unpark_rows(id(head.table), head.partition)  # a barrier
                self._outbox.append((self._popped, head))
            queue.popleft()
            self._popped += 1
        self._start_sender()
        self._wake_waiters()

    def _parks(self, write: _Write) -> bool:
        # Not a write a flush waits for (queued before it): a parked one is not sent. One
        # queued after it may be, while the flush waits for the writes before it.
        if self._park_seconds is None or self._popped < self._awaited:
            return False
        if write.table.coalesce_writes:
            return True
        if write.deleted:
            return False
        return _under(write.table.parked_prefix, write.key) or _is_floor(write)

    def _park(self, write: _Write) -> None:
        rows = self._parked.setdefault((id(write.table), write.partition), {})
        # The dict's order is the order of places: a row that stands alone keeps its first
        # place (a value assigned to a present key keeps its position), a floor row moves to
        # the end, the place of its newest write.
        earlier = rows.get(write.key)
        if earlier is None:
            rows[write.key] = (self._popped, write)
        else:
            self.coalesced += 1
            if _is_floor(write):
                del rows[write.key]
                rows[write.key] = (self._popped, write)
            else:
                rows[write.key] = (earlier[0], write)
        if self._unpark_timer is None and self._park_seconds is not None:
            # An idle worker commits nothing, so nothing would flush what it parked.
            loop = asyncio.get_running_loop()
            self._unpark_timer = loop.call_later(self._park_seconds, self._unpark)

    def _unpark(self) -> None:
        """Parked writes go to the sender, behind what is there already: the sender may be
        sending the outbox's head, so nothing goes in front of it. The outbox is then no
        longer in place order, which ``_progress`` may ignore: it is read only by a flush,
        which unparks first and parks nothing it waits for, so every place in the outbox
        in front of a place it does not wait for is one it waits for."""
        if self._unpark_timer is not None:
            self._unpark_timer.cancel()
            self._unpark_timer = None
        if not self._parked:
            return
        for rows in self._parked.values():
            self._outbox.extend(rows.values())
        self._parked.clear()
        self._start_sender()

    def _unpark_rows(self, table: int, partition: int) -> None:
        """A barrier of the table's partition is being released: its parked rows go first."""
        rows = self._parked.pop((table, partition), None)
        if rows:
            self._outbox.extend(rows.values())

    def _start_sender(self) -> None:
        if self._outbox and (self._sender is None or self._sender.done()):
            self._sender = asyncio.ensure_future(self._send_outbox())

    def _leaves(self, write: _Write) -> bool:
        """Released: no longer held (so no longer replaceable); False if it was replaced."""
        if not write.table.coalesce_writes:
            return True
        slot = (id(write.table), write.partition, write.key)
        if self._held.get(slot) is write:
            del self._held[slot]
        return not write.superseded

    async def _send_outbox(self) -> None:
        outbox = self._outbox
        while outbox and self._failed is None:
            write = outbox[0][1]
            try:
                topic, key, value = write.table.changelog_record(
                    write.key, write.value, write.deleted
                )
                future = await self._send(topic, key=key, value=value, partition=write.partition)
            except Exception as err:  # any failure stops the worker, named
                self._fail(err, "a changelog write")
                break
            future.add_done_callback(self._on_changelog_delivered(write.table))
            outbox.popleft()
            self._wake_waiters()
        self._wake_waiters()

    def _on_changelog_delivered(self, table: Any) -> Callable[[asyncio.Future[Any]], None]:
        def delivered(future: asyncio.Future[Any]) -> None:
            if future.cancelled():
                return
            if (error := future.exception()) is not None:
                self._fail(error, "a changelog write")
            else:
                table.on_changelog_delivered(future.result())

        return delivered

    def _wake_waiters(self) -> None:
        if not self._waiters:
            return
        progress, waiting = self._progress(), []
        for target, waiter in self._waiters:
            if progress >= target or self._failed is not None:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiting.append((target, waiter))
        self._waiters = waiting

    def _wrap_flush(self, producer: Any) -> None:
        """Faust flushes the producer before it commits offsets: that flush now also waits
        for the held writes (released as the outputs before them are delivered) to be sent."""
        flush: Callable[[], Awaitable[None]] = producer.flush

        async def flush_with_held_writes() -> None:
            await flush()
            self._unpark()
            if self._progress() < self._queued:
                await self.released()
                await flush()

        producer.flush = flush_with_held_writes


def _under(prefix: str | None, key: Any) -> bool:
    return prefix is not None and key.startswith(prefix)


def _is_floor(write: _Write) -> bool:
    """A row that vouches for every write made before it (``table.floor_prefix``)."""
    return _under(write.table.floor_prefix, write.key)


def held_writes(app: faust.App) -> HeldWrites:
    """The worker's one queue (created on first use)."""
    found: HeldWrites | None = getattr(app, "_servicepulse_held_writes", None)
    if found is None:
        exactly = not at_least_once(app)
        found = HeldWrites(
            app, sender(app), changelog_via_faust=exactly,
            # Faust commits this often: a parked write waits for one commit at most.
            park_seconds=None if exactly else float(app.conf.broker_commit_interval),
        )  # fmt: skip
        app._servicepulse_held_writes = found  # type: ignore[attr-defined]
    return found
