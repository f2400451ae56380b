"""Sending rejected records to the dead-letter topic, and the guard every agent runs under.

`run_agent` gives each agent the same loop: one record at a time to a named handler; a record
the handler fails on (an exception, a foreign record on an internal topic) is dead-lettered as
`internal_error`, counted, logged once with its traceback, and the loop goes on.
`for_each_event` makes that handler for an agent reading events: an event of an events record
that fails is dead-lettered alone, as the record of that one event, and the others go on
(`each_item`, which the windows stage uses for an observations record's records too).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import faust

from servicepulse.processors import envelope
from servicepulse.processors.decoding import RejectCategory, Rejection
from servicepulse.processors.envelope import EventRecord, ObservationRecord
from servicepulse.processors.records import SourcePosition, dead_letter, dead_letter_key, dumps
from servicepulse.streams import topology
from servicepulse.streams.metrics import Metrics, count_when_delivered
from servicepulse.streams.settings import Settings
from servicepulse.streams.watermarks import StageWatermarks

log = logging.getLogger(__name__)
ITEMS_BETWEEN_YIELDS = 16
Item = TypeVar("Item", EventRecord, ObservationRecord)

# Handles one record (a faust Message); sends its outputs, updates its tables.
RecordHandler = Callable[[Any], Awaitable[None]]
# Handles one event of a record: the record (a faust Message), the event, and the event's
# origin (the record's topic and partition, and its offset, or its place in an events record:
# processors.envelope.origin_offset), which observations carry.
EventHandler = Callable[[Any, EventRecord, SourcePosition], Awaitable[None]]


class DeadLetters:
    def __init__(self, app: faust.App, settings: Settings, metrics: Metrics) -> None:
        self.topic = topology.topic(app, settings, topology.DEADLETTER)
        self.metrics = metrics

    async def send(
        self, message: Any, rejection: Rejection, expected_type: str, raw: bytes | None = None
    ) -> None:
        """``raw``: the bytes rejected, if not the whole record's (one event of several)."""
        if raw is None:
            raw = message.value if isinstance(message.value, bytes | None) else None
        position = SourcePosition(message.topic, message.partition, message.offset)
        counter = self.metrics.events_deadlettered.labels(message.topic, rejection.category.value)
        letter = dead_letter(raw, message.key, rejection, position, expected_type, time.time())
        key = None if message.key is None else dead_letter_key(message.key)
        await self.topic.send(key=key, value=dumps(letter), callback=count_when_delivered(counter))


def run_agent(
    app: faust.App,
    settings: Settings,
    dead_letters: DeadLetters,
    declared: topology.Agent,
    handle: RecordHandler,
) -> None:
    """Registers the `declared` agent: `handle` for every record of its source, under the
    guard."""
    source = declared.source

    async def agent(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            message = record.message
            try:
                await handle(message)
            except Exception as err:  # the one place an agent's record errors end up
                await _dead_letter_failure(declared, dead_letters, message, err)

    app.agent(topology.topic(app, settings, source), name=declared.name)(agent)


def for_each_event(
    declared: topology.Agent, dead_letters: DeadLetters, watermarks: StageWatermarks,
    handle_event: EventHandler,
) -> RecordHandler:  # fmt: skip
    """The record handler of an agent reading events (one per record, or an events record's
    several): ``handle_event`` for each, in order."""
    accepts = declared.source.accepts

    async def handle(message: Any) -> None:
        records, batched = watermarks.event_records(message, accepts)
        if not batched:
            for record in records:  # none (a watermark) or one: run_agent's guard covers it
                origin = SourcePosition(message.topic, message.partition, message.offset)
                await handle_event(message, record, origin)
            return

        async def handle_one(index: int, record: EventRecord) -> None:
            at = envelope.origin_offset(message.offset, index)
            origin = SourcePosition(message.topic, message.partition, at)
            await handle_event(message, record, origin)

        await each_item(declared, dead_letters, message, records, handle_one)

    return handle


async def each_item(
    declared: topology.Agent, dead_letters: DeadLetters, message: Any, items: Sequence[Item],
    handle: Callable[[int, Item], Awaitable[None]],
) -> None:  # fmt: skip
    """``handle(index, item)`` for each item of a record carrying several, in order: one that
    fails is dead-lettered alone, with its own encoding as the original bytes, and the others
    go on."""
    for index, item in enumerate(items):
        if index and index % ITEMS_BETWEEN_YIELDS == 0:
            # Let the fetch loop and the other agents run: a backlog's record carries
            # hundreds of items, which would hold every other agent up for its whole run.
            await asyncio.sleep(0)
        try:
            await handle(index, item)
        except Exception as err:
            raw = envelope.encode(item)
            await _dead_letter_failure(declared, dead_letters, message, err, raw, index)


async def _dead_letter_failure(
    declared: topology.Agent, dead_letters: DeadLetters, message: Any, err: Exception,
    raw: bytes | None = None, index: int | None = None,
) -> None:  # fmt: skip
    which = "" if index is None else f" (event {index})"
    log.exception(
        "agent %s failed on %s[%d]@%d%s; dead-lettered as internal_error",
        declared.name, message.topic, message.partition, message.offset, which,
    )  # fmt: skip
    rejection = Rejection(RejectCategory.INTERNAL_ERROR, f"{declared.name}: {err!r}")
    await dead_letters.send(message, rejection, declared.source.carries, raw)
