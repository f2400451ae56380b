"""Customer journeys: every event with a customer_ref, keyed by it, → one picture per customer.

    <app>-events-by-customer ──▶ customers[customer_ref] ──▶ customer.journeys
                                   (journey + recent openings)   <app>-observations-by-group
                                                                  (repeat_contact_rate,
                                                                   run_around_rate)

customer_ref is already pseudonymous here (ingest protected it). A journey idle for
`journey_horizon_days` of its partition's event time is deleted.
"""

from __future__ import annotations

import time

import faust

from servicepulse.processors.cases import SECONDS_PER_DAY, apply_contact
from servicepulse.processors.journeys import (
    RunAroundRules,
    apply_journey_event,
    journey_message,
    last_event_at,
)
from servicepulse.processors.records import SourcePosition, dumps, observation_record
from servicepulse.processors.standards import StandardsConfig
from servicepulse.processors.window_engine import group_key
from servicepulse.schemas.models import (
    FEEDBACK_TYPE,
    INTERACTION_TYPE,
    FeedbackEvent,
    InteractionEvent,
    InteractionKind,
)
from servicepulse.streams.deadletters import DeadLetters
from servicepulse.streams.expiry import EventTimeExpiry
from servicepulse.streams.ingest import parse_internal_envelope
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings


def register_journeys(
    app: faust.App, settings: Settings, metrics: Metrics, standards: StandardsConfig
) -> None:
    source = app.topic(
        settings.internal_contact_topic, key_serializer="raw", value_serializer="raw"
    )
    observations = app.topic(
        settings.internal_observation_topic, key_serializer="raw", value_serializer="raw"
    )
    journeys_topic = app.topic(
        settings.topic_journeys, key_serializer="raw", value_serializer="raw"
    )
    dead_letters = DeadLetters(app, settings, metrics)
    customers = app.Table(
        "customers", default=None, partitions=settings.partitions, key_type=str,
        help="customer_ref -> {journey, contacts (repeat-contact history), p}",
    )  # fmt: skip
    rules = RunAroundRules(
        max_transfers_per_case=settings.run_around_transfers,
        max_agencies_same_need=settings.run_around_agencies,
        max_repeat_contacts=settings.run_around_repeats,
        repeat_window_days=settings.run_around_window_days,
    )
    idle = EventTimeExpiry(
        app, settings.internal_contact_topic, customers,
        settings.journey_horizon_days * SECONDS_PER_DAY,
        noted_at=lambda entry: entry["journey"]["last_event_at"],
    )  # fmt: skip

    @app.agent(source, name="customer-journeys")
    async def customer_journeys(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            message = record.message
            try:
                document, _, input_timestamp = parse_internal_envelope(message.value)
                event: FeedbackEvent | InteractionEvent = (
                    InteractionEvent.model_validate(document)
                    if "kind" in document
                    else FeedbackEvent.model_validate(document)
                )
                ref = event.customer_ref
                if ref is None:
                    raise ValueError("record without customer_ref")
            except Exception as err:  # only a foreign writer on our internal topic gets here
                expected = INTERACTION_TYPE if b'"kind"' in (message.value or b"") else (
                    FEEDBACK_TYPE
                )
                await dead_letters.foreign(message, err, expected)
                continue
            entry = customers.get(ref) or {"journey": None, "contacts": None}
            journey, update = apply_journey_event(entry["journey"], event, rules)
            if update is None:
                metrics.events_duplicate.labels("journey").inc()
                continue
            found = list(update.observations)
            contacts = entry["contacts"]
            if isinstance(event, InteractionEvent) and event.kind == InteractionKind.OPENED:
                days = standards.repeat_contact_days(event.agency, event.service, event.channel)
                contacts, repeat = apply_contact(
                    contacts, ref, event.service, event.occurred_at_epoch, days,
                    agency=event.agency, channel=event.channel.value, case_id=event.case_id,
                )  # fmt: skip
                if repeat is not None:
                    found.append(repeat)
            # Outputs first, then the journey (see streams.cases for why).
            origin = SourcePosition(message.topic, message.partition, message.offset)
            for obs in found:
                key = group_key(obs.agency, obs.service, obs.channel).encode()
                value = dumps(observation_record(obs, event.event_id, origin))
                await observations.send(key=key, value=value)
            at = last_event_at(journey)
            await journeys_topic.send(
                key=ref.encode(), value=dumps(journey_message(ref, journey, at))
            )
            if update.newly_run_around:
                metrics.journeys_run_around.labels(metrics.agency(event.agency)).inc()
            customers[ref] = {"journey": journey, "contacts": contacts, "p": message.partition}
            idle.note(message.partition, ref, at)
            idle.advance(message.partition, at)
            idle.expire(message.partition)
            metrics.processing_latency.labels("journeys").observe(
                max(0.0, time.time() - input_timestamp)
            )
