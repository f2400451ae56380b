"""Ingest: raw input records → validated events re-keyed for their flow, or dead letters.

    feedback.events    ─decode─┬─ valid ─▶ <app>-feedback-by-event-id   (key: event_id)
    interaction.events ─decode─┤          <app>-interactions-by-case-id (key: case_id)
                               └─ rejected ─▶ events.deadletter (original bytes + reason)

Re-keying puts a redelivered event in the same partition as its first copy, so the dedupe
table downstream sees both whatever key the publisher used.
"""

from __future__ import annotations

import json
from typing import Any

import faust

from processors.decoding import RejectCategory, Rejection, decode_event
from processors.records import SourcePosition, dumps
from schemas.models import FEEDBACK_TYPE, INTERACTION_TYPE, FeedbackEvent, InteractionEvent
from streams.deadletters import DeadLetters
from streams.metrics import Metrics
from streams.settings import Settings

_SHORT_TYPE = {FEEDBACK_TYPE: "feedback", INTERACTION_TYPE: "interaction"}


def internal_envelope(
    event: FeedbackEvent | InteractionEvent, source: SourcePosition, timestamp: float
) -> bytes:
    """What crosses the internal re-keyed topic: the event, where it came from, and when."""
    return dumps(
        {
            "event": event.model_dump(mode="json", exclude_none=True),
            "source": source.as_dict(),
            "input_timestamp": timestamp,
        }
    )


def parse_internal_envelope(raw: bytes) -> tuple[dict[str, Any], SourcePosition, float]:
    document = json.loads(raw)
    source = SourcePosition(**document["source"])
    return document["event"], source, float(document["input_timestamp"])


def register_ingest(app: faust.App, settings: Settings, metrics: Metrics) -> None:
    dead_letters = DeadLetters(app, settings, metrics)
    routes = [
        (settings.topic_feedback, FEEDBACK_TYPE, settings.internal_feedback_topic),
        (settings.topic_interactions, INTERACTION_TYPE, settings.internal_interaction_topic),
    ]
    for input_name, event_type, internal_name in routes:
        source_topic = app.topic(input_name, key_serializer="raw", value_serializer="raw")
        internal_topic = app.topic(internal_name, key_serializer="raw", value_serializer="raw")
        app.agent(source_topic, name=f"ingest-{_SHORT_TYPE[event_type]}")(
            _ingest_agent(settings, metrics, event_type, internal_topic, dead_letters)
        )


def _ingest_agent(
    settings: Settings,
    metrics: Metrics,
    event_type: str,
    internal_topic: faust.TopicT,
    dead_letters: DeadLetters,
) -> Any:
    short_type = _SHORT_TYPE[event_type]

    async def ingest(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            message = record.message
            source = SourcePosition(message.topic, message.partition, message.offset)
            raw = message.value if isinstance(message.value, bytes | None) else None
            try:
                result = decode_event(raw, event_type, settings.max_event_bytes)
            except Exception as err:  # a decoder bug must not stop the stream: dead-letter it
                result = Rejection(RejectCategory.SCHEMA_VIOLATION, f"decoder error: {err!r}")
            if isinstance(result, Rejection):
                await dead_letters.send(message, result, event_type)
                continue
            key = result.event_id if isinstance(result, FeedbackEvent) else result.case_id
            metrics.events_consumed.labels(
                short_type, metrics.agency(result.agency), result.channel.value
            ).inc()
            await internal_topic.send(
                key=key.encode(),
                value=internal_envelope(result, source, message.timestamp),
            )

    return ingest
