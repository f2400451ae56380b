"""Ingest: raw input records → validated events re-keyed for their flow, or dead letters.

    feedback.events    ─decode─┬─ valid ─protect─▶ <app>-feedback-by-event-id   (key: event_id)
    interaction.events ─decode─┤                   <app>-interactions-by-case-id (key: case_id)
                               │                   <app>-events-by-customer (key: customer_ref)
                               └─ rejected ─▶ events.deadletter (original bytes + reason)

Re-keying puts a redelivered event in the same partition as its first copy, so the dedupe
table downstream sees both whatever key the publisher used. The events re-keyed to one
partition leave together, one record per fetch (streams.batching). Protection happens here, before
anything is written: sentiment is scored on the original comment in memory, then the comment
is redacted and a customer_ref that is a raw e-mail, phone or SSN becomes an HMAC pseudonym,
so no topic servicepulse writes (changelogs included) holds them. The dead-letter topic keeps
rejected records' original bytes by design and must be access-restricted.
"""

from __future__ import annotations

import time
from typing import Any

import faust

from servicepulse.processors import envelope
from servicepulse.processors.decoding import Rejection, decode_event
from servicepulse.processors.envelope import EventRecord
from servicepulse.processors.pseudonym import protect_customer_ref
from servicepulse.processors.records import SourcePosition
from servicepulse.processors.redaction import redact
from servicepulse.processors.sentiment import Sentiment, score_comment
from servicepulse.schemas.models import FeedbackEvent, InteractionEvent
from servicepulse.streams import topology
from servicepulse.streams.batching import Batches, event_batches
from servicepulse.streams.deadletters import DeadLetters, RecordHandler, run_agent
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings
from servicepulse.streams.watermarks import StageWatermarks


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
    by_customer = topology.topic(app, settings, topology.EVENTS_BY_CUSTOMER)
    routes = [
        (topology.INGEST_FEEDBACK, topology.FEEDBACK_BY_EVENT_ID, envelope.RecordType.FEEDBACK),
        (topology.INGEST_INTERACTION, topology.INTERACTIONS_BY_CASE_ID,
         envelope.RecordType.INTERACTION),
    ]  # fmt: skip
    metrics.start_consumed_at_zero(tuple(event_type.value for _, _, event_type in routes))
    for agent, internal, _ in routes:
        internal_topic = topology.topic(app, settings, internal)
        # A source of event time: each input partition's watermark goes to every partition
        # of the topics it feeds.
        outputs = [(internal_topic, settings.partitions), (by_customer, settings.partitions)]
        batches = event_batches(app)
        watermarks = StageWatermarks(
            app, settings, agent.source.name(settings), outputs, upstream=None,
            before_send=batches.flush,
        )  # fmt: skip
        handle = _ingest_one(
            batches, settings, metrics, agent.source.carries, internal_topic, by_customer,
            dead_letters, key, watermarks,
        )  # fmt: skip
        run_agent(app, settings, dead_letters, agent, handle)


def _ingest_one(
    batches: Batches,
    settings: Settings,
    metrics: Metrics,
    event_type: str,
    internal_topic: faust.TopicT,
    by_customer: faust.TopicT,
    dead_letters: DeadLetters,
    pseudonym_key: bytes,
    watermarks: StageWatermarks,
) -> RecordHandler:
    async def ingest_one(message: Any) -> None:
        raw = message.value if isinstance(message.value, bytes | None) else None
        result = decode_event(
            raw, event_type, settings.max_event_bytes, settings.event_time_bounds(time.time())
        )
        if isinstance(result, Rejection):
            await dead_letters.send(message, result, event_type)
            watermarks.observe_read(message)  # read, though no event time to learn
            return
        protected, sentiment = protect(result, pseudonym_key, metrics)
        record = EventRecord(
            protected,
            SourcePosition(message.topic, message.partition, message.offset),
            message.timestamp,
            sentiment,
        )
        key = protected.event_id if isinstance(protected, FeedbackEvent) else protected.case_id
        metrics.child(
            metrics.events_consumed,
            record.type.value, metrics.agency(protected.agency), protected.channel.value,
        ).inc()  # fmt: skip
        value, partitions = envelope.encode(record), settings.partitions
        await batches.add(internal_topic, partitions, key.encode(), value)
        if protected.customer_ref is not None:
            await batches.add(by_customer, partitions, protected.customer_ref.encode(), value)
        watermarks.observe_event(message, protected.occurred_at_epoch)

    return ingest_one
