"""Feedback scoring: re-keyed valid feedback → dedupe by event_id → feedback.scored.

Sentiment was scored at ingest on the original comment (TextBlob), which then was redacted.

The dedupe table maps event_id → {"seen": first-seen wall time, "p": partition}; its changelog
restores it after a restart. Ids older than the horizon are deleted partition by partition (a
table may only be written for the partition of the event being processed).
"""

from __future__ import annotations

import time
from typing import Any

import faust

from servicepulse.processors.cases import feedback_observations
from servicepulse.processors.dedupe import ExpiryIndex, is_duplicate
from servicepulse.processors.records import (
    SourcePosition,
    dumps,
    observation_record,
    scored_feedback,
)
from servicepulse.processors.window_engine import group_key
from servicepulse.schemas.models import FEEDBACK_TYPE, FeedbackEvent
from servicepulse.streams.deadletters import DeadLetters
from servicepulse.streams.ingest import parse_envelope_sentiment, parse_internal_envelope
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings

SWEEP_EVERY_SECONDS = 30.0


def register_feedback_scoring(app: faust.App, settings: Settings, metrics: Metrics) -> None:
    observations = app.topic(
        settings.internal_observation_topic, key_serializer="raw", value_serializer="raw"
    )
    source = app.topic(
        settings.internal_feedback_topic, key_serializer="raw", value_serializer="raw"
    )
    scored = app.topic(settings.topic_scored, key_serializer="raw", value_serializer="raw")
    seen_ids = app.Table(
        "feedback-seen-event-ids",
        default=None,
        partitions=settings.partitions,
        key_type=str,
        help="event_id -> first sighting, for redelivery detection",
    )
    dead_letters = DeadLetters(app, settings, metrics)

    expiry = ExpiryIndex(settings.dedupe_horizon_seconds)
    last_sweep: dict[int, float] = {}

    def on_revoked(sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        revoked = args[0] if args else _.get("revoked", ())
        for tp in revoked:
            if tp.topic == settings.internal_feedback_topic:
                expiry.forget(tp.partition)
                last_sweep.pop(tp.partition, None)

    app.on_partitions_revoked.connect(on_revoked)

    def sweep(partition: int, now: float) -> None:
        if not expiry.has(partition):
            expiry.rebuild(
                partition,
                (
                    (key, value["seen"])
                    for key, value in seen_ids.items()
                    if value["p"] == partition
                ),
            )
        elif now - last_sweep.get(partition, 0.0) < SWEEP_EVERY_SECONDS:
            return
        last_sweep[partition] = now
        for event_id, seen in expiry.expired(partition, now):
            current = seen_ids.get(event_id)
            if current is not None and current["seen"] == seen:
                del seen_ids[event_id]
        metrics.dedupe_ids.labels(str(partition)).set(expiry.size(partition))

    @app.agent(source, name="score-feedback")
    async def score_feedback(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            message = record.message
            now = time.time()
            sweep(message.partition, now)
            try:
                document, position, input_timestamp = parse_internal_envelope(message.value)
                event = FeedbackEvent.model_validate(document)
                # Scored at ingest on the original comment; only redacted text travels.
                sentiment = parse_envelope_sentiment(message.value)
            except Exception as err:  # only a foreign writer on our internal topic gets here
                await dead_letters.foreign(message, err, FEEDBACK_TYPE)
                continue
            first_seen = seen_ids.get(event.event_id)
            if is_duplicate(first_seen and first_seen["seen"], now, expiry.horizon_seconds):
                metrics.events_duplicate.labels("feedback").inc()
                continue
            # Outputs first, then the record that the event was handled: a worker stopped in
            # between repeats outputs (consumers dedupe by event_id; windows by origin)
            # rather than losing them.
            await scored.send(
                key=event.event_id.encode(),
                value=dumps(scored_feedback(event, sentiment, position, time.time())),
            )
            origin = SourcePosition(message.topic, message.partition, message.offset)
            for obs in feedback_observations(event, sentiment.label if sentiment else None):
                key = group_key(obs.agency, obs.service, obs.channel).encode()
                await observations.send(
                    key=key, value=dumps(observation_record(obs, event.event_id, origin))
                )
            seen_ids[event.event_id] = {"seen": now, "p": message.partition}
            expiry.note(message.partition, event.event_id, now)
            agency = metrics.agency(event.agency)
            label = sentiment.label if sentiment is not None else "none"
            metrics.feedback_scored.labels(agency, event.channel.value, label).inc()
            if sentiment is not None:
                metrics.comment_polarity.labels(agency).observe(sentiment.polarity)
            metrics.processing_latency.labels("feedback").observe(
                max(0.0, time.time() - input_timestamp)
            )
