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
from servicepulse.processors.envelope import EventRecord
from servicepulse.processors.records import SourcePosition, dumps, scored_feedback
from servicepulse.schemas.models import FeedbackEvent
from servicepulse.streams import topology
from servicepulse.streams.deadletters import DeadLetters, for_each_event, run_agent
from servicepulse.streams.delivery import held_writes
from servicepulse.streams.metrics import Metrics, count_when_delivered
from servicepulse.streams.observations import ObservationSender
from servicepulse.streams.settings import Settings
from servicepulse.streams.watermarks import StageWatermarks, channels_of

SWEEP_EVERY_SECONDS = 30.0


def register_feedback_scoring(app: faust.App, settings: Settings, metrics: Metrics) -> None:
    flow = FeedbackScoring(app, settings, metrics)
    app.on_partitions_revoked.connect(flow.on_revoked)
    agent = topology.SCORE_FEEDBACK
    handle = for_each_event(agent, flow.dead_letters, flow.watermarks, flow.score_one)
    run_agent(app, settings, flow.dead_letters, agent, handle)


class FeedbackScoring:
    """The score-feedback agent's state (the dedupe table and its expiry index) and steps."""

    def __init__(self, app: faust.App, settings: Settings, metrics: Metrics) -> None:
        self.settings, self.metrics = settings, metrics
        self.source = topology.SCORE_FEEDBACK.source
        self.observations = ObservationSender(app, settings)
        self.scored = topology.topic(app, settings, topology.SCORED)
        self.seen_ids = topology.table(app, settings, topology.SEEN_EVENT_IDS)
        self.held = held_writes(app)
        self.dead_letters = DeadLetters(app, settings, metrics)
        self.watermarks = StageWatermarks(
            app, settings, self.source.name(settings), [self.observations.destination],
            upstream=channels_of([topology.FEEDBACK_EVENTS.name(settings)], settings.partitions),
            before_send=self.observations.flush,
        )  # fmt: skip
        self.expiry = ExpiryIndex(settings.dedupe_horizon_seconds)
        self.last_sweep: dict[int, float] = {}

    def on_revoked(self, sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        revoked = args[0] if args else _.get("revoked", ())
        for tp in revoked:
            if tp.topic == self.source.name(self.settings):
                self.expiry.forget(tp.partition)
                self.last_sweep.pop(tp.partition, None)

    def sweep(self, partition: int, now: float) -> None:
        expiry, seen_ids = self.expiry, self.seen_ids
        if not expiry.has(partition):
            expiry.rebuild(
                partition,
                (
                    (key, value["seen"])
                    for key, value in seen_ids.items()
                    if value["p"] == partition
                ),
            )
        elif now - self.last_sweep.get(partition, 0.0) < SWEEP_EVERY_SECONDS:
            return
        self.last_sweep[partition] = now
        for event_id, seen in expiry.expired(partition, now):
            current = seen_ids.get(event_id)
            if current is not None and current["seen"] == seen:
                del seen_ids[event_id]
        self.metrics.dedupe_ids.labels(str(partition)).set(expiry.size(partition))

    async def score_one(self, message: Any, record: EventRecord, origin: SourcePosition) -> None:
        now = time.time()
        self.sweep(message.partition, now)
        assert isinstance(record.event, FeedbackEvent)  # the only event type it accepts
        event, sentiment, metrics = record.event, record.sentiment, self.metrics
        first_seen = self.seen_ids.get(event.event_id)
        if is_duplicate(first_seen and first_seen["seen"], now, self.expiry.horizon_seconds):
            metrics.events_duplicate.labels("feedback").inc()
            return
        # Outputs first, then the record that the event was handled (its changelog write held
        # until they are delivered: streams.delivery): a worker stopped in between repeats
        # outputs (consumers dedupe by event_id; windows by origin) rather than losing them.
        agency = metrics.agency(event.agency)
        label = sentiment.label if sentiment is not None else "none"
        await self.held.send(
            self.scored,
            key=event.event_id.encode(),
            value=dumps(scored_feedback(event, sentiment, record.source, time.time())),
            callback=count_when_delivered(
                metrics.child(metrics.feedback_scored, agency, event.channel.value, label)
            ),
        )
        found = feedback_observations(event, sentiment.label if sentiment else None)
        await self.observations.send(found, event.event_id, origin)
        self.seen_ids[event.event_id] = {"seen": now, "p": message.partition}
        self.expiry.note(message.partition, event.event_id, now)
        if sentiment is not None:
            metrics.child(metrics.comment_polarity, agency).observe(sentiment.polarity)
        metrics.child(metrics.processing_latency, "feedback").observe(
            max(0.0, time.time() - record.input_timestamp)
        )
