"""Ingest: raw input records → validated events re-keyed for their flow, or dead letters.

    feedback.events    ─decode─┬─ valid ─protect─▶ <app>-feedback-by-event-id   (key: event_id)
    interaction.events ─decode─┤                   <app>-interactions-by-case-id (key: case_id)
                               │                   <app>-events-by-customer (key: customer_ref)
                               └─ rejected ─▶ events.deadletter (original bytes + reason)

Re-keying puts a redelivered event in the same partition as its first copy, so the dedupe
table downstream sees both whatever key the publisher used. Protection happens here, before
anything is written: sentiment is scored on the original comment in memory, then the comment
is redacted and a customer_ref that is a raw e-mail, phone or SSN becomes an HMAC pseudonym,
so no topic servicepulse writes (changelogs included) holds them. The dead-letter topic keeps
rejected records' original bytes by design and must be access-restricted.
"""

from __future__ import annotations

import json
import time
from typing import Any

import faust

from servicepulse.processors.decoding import RejectCategory, Rejection, decode_event
from servicepulse.processors.pseudonym import protect_customer_ref
from servicepulse.processors.records import SourcePosition, dumps
from servicepulse.processors.redaction import redact
from servicepulse.processors.sentiment import Sentiment, score_comment
from servicepulse.schemas.models import (
    FEEDBACK_TYPE,
    INTERACTION_TYPE,
    FeedbackEvent,
    InteractionEvent,
)
from servicepulse.streams.deadletters import DeadLetters
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings

_SHORT_TYPE = {FEEDBACK_TYPE: "feedback", INTERACTION_TYPE: "interaction"}


def internal_envelope(
    event: FeedbackEvent | InteractionEvent,
    source: SourcePosition,
    timestamp: float,
    sentiment: Sentiment | None = None,
) -> bytes:
    """What crosses the internal re-keyed topics: the protected event (comment redacted,
    customer_ref pseudonymous), its sentiment (scored on the original text), where it came
    from, and when."""
    return dumps(
        {
            "event": event.model_dump(mode="json", exclude_none=True),
            "sentiment": sentiment.as_dict() if sentiment is not None else None,
            "source": source.as_dict(),
            "input_timestamp": timestamp,
        }
    )


def parse_internal_envelope(raw: bytes) -> tuple[dict[str, Any], SourcePosition, float]:
    document = json.loads(raw)
    source = SourcePosition(**document["source"])
    return document["event"], source, float(document["input_timestamp"])


def parse_envelope_sentiment(raw: bytes) -> Sentiment | None:
    found = json.loads(raw).get("sentiment")
    return None if found is None else Sentiment(**found)


def protect(
    event: FeedbackEvent | InteractionEvent, key: bytes, metrics: Metrics
) -> tuple[FeedbackEvent | InteractionEvent, Sentiment | None]:
    """The event as it may be written anywhere: comment redacted (after scoring sentiment on
    the original text, in memory), customer_ref pseudonymised if it is a raw identifier."""
    changes: dict[str, Any] = {}
    sentiment = None
    if isinstance(event, FeedbackEvent) and event.comment is not None:
        sentiment = score_comment(event.comment)
        redaction = redact(event.comment)
        for pii_type, count in redaction.counts.items():
            metrics.pii_redactions.labels(pii_type).inc(count)
        changes["comment"] = redaction.text
    if event.customer_ref is not None:
        protected_ref = protect_customer_ref(event.customer_ref, key)
        if protected_ref != event.customer_ref:
            metrics.customer_refs_pseudonymized.inc()
            changes["customer_ref"] = protected_ref
    return (event.model_copy(update=changes) if changes else event), sentiment


def register_ingest(app: faust.App, settings: Settings, metrics: Metrics, key: bytes) -> None:
    """`key`: the HMAC key for customer_ref values that are raw PII."""
    dead_letters = DeadLetters(app, settings, metrics)
    by_customer = app.topic(
        settings.internal_contact_topic, key_serializer="raw", value_serializer="raw"
    )
    routes = [
        (settings.topic_feedback, FEEDBACK_TYPE, settings.internal_feedback_topic),
        (settings.topic_interactions, INTERACTION_TYPE, settings.internal_interaction_topic),
    ]
    for input_name, event_type, internal_name in routes:
        source_topic = app.topic(input_name, key_serializer="raw", value_serializer="raw")
        internal_topic = app.topic(internal_name, key_serializer="raw", value_serializer="raw")
        app.agent(source_topic, name=f"ingest-{_SHORT_TYPE[event_type]}")(
            _ingest_agent(
                settings, metrics, event_type, internal_topic, by_customer, dead_letters, key
            )
        )


def _ingest_agent(
    settings: Settings,
    metrics: Metrics,
    event_type: str,
    internal_topic: faust.TopicT,
    by_customer: faust.TopicT,
    dead_letters: DeadLetters,
    pseudonym_key: bytes,
) -> Any:
    short_type = _SHORT_TYPE[event_type]

    async def ingest(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            message = record.message
            source = SourcePosition(message.topic, message.partition, message.offset)
            raw = message.value if isinstance(message.value, bytes | None) else None
            try:
                result = decode_event(
                    raw, event_type, settings.max_event_bytes,
                    settings.event_time_bounds(time.time()),
                )  # fmt: skip
            except Exception as err:  # a decoder bug must not stop the stream: dead-letter it
                result = Rejection(RejectCategory.SCHEMA_VIOLATION, f"decoder error: {err!r}")
            if isinstance(result, Rejection):
                await dead_letters.send(message, result, event_type)
                continue
            protected, sentiment = protect(result, pseudonym_key, metrics)
            key = protected.event_id if isinstance(protected, FeedbackEvent) else protected.case_id
            metrics.events_consumed.labels(
                short_type, metrics.agency(protected.agency), protected.channel.value
            ).inc()
            envelope = internal_envelope(protected, source, message.timestamp, sentiment)
            await internal_topic.send(key=key.encode(), value=envelope)
            if protected.customer_ref is not None:
                await by_customer.send(key=protected.customer_ref.encode(), value=envelope)

    return ingest
