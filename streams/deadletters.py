"""Sending rejected records to the dead-letter topic (original bytes, reason, position)."""

from __future__ import annotations

import time
from typing import Any

import faust

from servicepulse.processors.decoding import RejectCategory, Rejection
from servicepulse.processors.records import SourcePosition, dead_letter, dead_letter_key, dumps
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings


class DeadLetters:
    def __init__(self, app: faust.App, settings: Settings, metrics: Metrics) -> None:
        self.topic = app.topic(
            settings.topic_deadletter, key_serializer="raw", value_serializer="raw"
        )
        self.metrics = metrics

    async def send(self, message: Any, rejection: Rejection, expected_type: str) -> None:
        raw = message.value if isinstance(message.value, bytes | None) else None
        position = SourcePosition(message.topic, message.partition, message.offset)
        self.metrics.events_deadlettered.labels(message.topic, rejection.category.value).inc()
        letter = dead_letter(raw, message.key, rejection, position, expected_type, time.time())
        key = None if message.key is None else dead_letter_key(message.key)
        await self.topic.send(key=key, value=dumps(letter))

    async def foreign(self, message: Any, err: Exception, expected_type: str) -> None:
        """A record on one of our internal topics that we did not write (or cannot read)."""
        reason = f"unreadable internal record: {err}"
        await self.send(message, Rejection(RejectCategory.SCHEMA_VIOLATION, reason), expected_type)
