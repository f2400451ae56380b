"""Sending rejected records to the dead-letter topic, and the guard every agent runs under.

`run_agent` gives each agent the same loop: one record at a time to a named handler; a record
the handler fails on (an exception, a foreign record on an internal topic) is dead-lettered as
`internal_error`, counted, logged once with its traceback, and the loop goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from servicepulse.processors.decoding import RejectCategory, Rejection
from servicepulse.processors.records import SourcePosition, dead_letter, dead_letter_key, dumps
from servicepulse.streams import topology
from servicepulse.streams.metrics import Metrics, count_when_delivered
from servicepulse.streams.settings import Settings

log = logging.getLogger(__name__)

# Handles one record (a faust Message); sends its outputs, updates its tables.
RecordHandler = Callable[[Any], Awaitable[None]]


class DeadLetters:
    def __init__(self, app: faust.App, settings: Settings, metrics: Metrics) -> None:
        self.topic = topology.topic(app, settings, topology.DEADLETTER)
        self.metrics = metrics

    async def send(self, message: Any, rejection: Rejection, expected_type: str) -> None:
        raw = message.value if isinstance(message.value, bytes | None) else None
        position = SourcePosition(message.topic, message.partition, message.offset)
        counter = self.metrics.events_deadlettered.labels(message.topic, rejection.category.value)
        letter = dead_letter(raw, message.key, rejection, position, expected_type, time.time())
        key = None if message.key is None else dead_letter_key(message.key)
        await self.topic.send(
            key=key, value=dumps(letter), callback=count_when_delivered(counter)
        )


def run_agent(
    app: faust.App,
    settings: Settings,
    dead_letters: DeadLetters,
    declared: topology.Agent,
    handle: RecordHandler,
) -> None:
    """Registers the `declared` agent: `handle` for every record of its source, under the
    guard."""
    name, source = declared.name, declared.source

    async def agent(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            message = record.message
            try:
                await handle(message)
            except Exception as err:  # the one place an agent's record errors end up
                log.exception(
                    "agent %s failed on %s[%d]@%d; dead-lettered as internal_error",
                    name, message.topic, message.partition, message.offset,
                )  # fmt: skip
                rejection = Rejection(RejectCategory.INTERNAL_ERROR, f"{name}: {err!r}")
                await dead_letters.send(message, rejection, source.carries)

    app.agent(topology.topic(app, settings, source), name=name)(agent)
