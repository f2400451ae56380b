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
from typing import Any

import faust

from servicepulse.processors import envelope
from servicepulse.processors.cases import SECONDS_PER_DAY, apply_contact
from servicepulse.processors.envelope import EventRecord
from servicepulse.processors.journeys import (
    RunAroundRules,
    apply_journey_event,
    journey_message,
    last_event_at,
)
from servicepulse.processors.records import SourcePosition, dumps
from servicepulse.processors.standards import StandardsConfig
from servicepulse.schemas.models import InteractionEvent, InteractionKind
from servicepulse.streams import topology
from servicepulse.streams.deadletters import DeadLetters, for_each_event, run_agent
from servicepulse.streams.delivery import held_writes
from servicepulse.streams.expiry import EventTimeExpiry
from servicepulse.streams.metrics import Metrics, count_when_delivered
from servicepulse.streams.observations import ObservationSender
from servicepulse.streams.settings import Settings
from servicepulse.streams.watermarks import StageWatermarks, channels_of


def register_journeys(
    app: faust.App, settings: Settings, metrics: Metrics, standards: StandardsConfig
) -> None:
    flow = CustomerJourneys(app, settings, metrics, standards)
    agent = topology.CUSTOMER_JOURNEYS
    handle = for_each_event(agent, flow.dead_letters, flow.watermarks, flow.follow_one)
    run_agent(app, settings, flow.dead_letters, agent, handle)


class CustomerJourneys:
    """The customer-journeys agent's state (the customers table, idle expiry) and steps."""

    def __init__(
        self, app: faust.App, settings: Settings, metrics: Metrics, standards: StandardsConfig
    ) -> None:
        self.metrics, self.standards = metrics, standards
        self.source = topology.CUSTOMER_JOURNEYS.source
        self.observations = ObservationSender(app, settings)
        self.journeys_topic = topology.topic(app, settings, topology.JOURNEYS)
        self.dead_letters = DeadLetters(app, settings, metrics)
        inputs = [topology.FEEDBACK_EVENTS.name(settings),
                  topology.INTERACTION_EVENTS.name(settings)]  # fmt: skip
        self.watermarks = StageWatermarks(
            app, settings, self.source.name(settings), [self.observations.destination],
            upstream=channels_of(inputs, settings.partitions),
            before_send=self.observations.flush,
        )  # fmt: skip
        self.customers = topology.table(app, settings, topology.CUSTOMERS)
        self.held = held_writes(app)
        self.rules = RunAroundRules(
            max_transfers_per_case=settings.run_around_transfers,
            max_agencies_same_need=settings.run_around_agencies,
            max_repeat_contacts=settings.run_around_repeats,
            repeat_window_days=settings.run_around_window_days,
        )
        self.idle = EventTimeExpiry(
            app, self.source.name(settings), self.customers,
            settings.journey_horizon_days * SECONDS_PER_DAY,
            noted_at=lambda entry: entry["journey"]["last_event_at"],
        )  # fmt: skip

    async def follow_one(self, message: Any, record: EventRecord, origin: SourcePosition) -> None:
        event, customers, idle, metrics = record.event, self.customers, self.idle, self.metrics
        ref = event.customer_ref
        if ref is None:
            raise envelope.UnreadableRecord("record without customer_ref")
        entry = customers.get(ref) or {"journey": None, "contacts": None}
        journey, update = apply_journey_event(entry["journey"], event, self.rules)
        if update is None:
            metrics.events_duplicate.labels("journey").inc()
            return
        found = list(update.observations)
        contacts = entry["contacts"]
        if isinstance(event, InteractionEvent) and event.kind == InteractionKind.OPENED:
            days = self.standards.repeat_contact_days(event.agency, event.service, event.channel)
            contacts, repeat = apply_contact(
                contacts, ref, event.service, event.occurred_at_epoch, days,
                agency=event.agency, channel=event.channel.value, case_id=event.case_id,
            )  # fmt: skip
            if repeat is not None:
                found.append(repeat)
        # Outputs first, then the journey (see streams.delivery).
        await self.observations.send(found, event.event_id, origin)
        at = last_event_at(journey)
        value = dumps(journey_message(ref, journey, at))
        flagged = None
        if update.newly_run_around:
            run_around = metrics.journeys_run_around.labels(metrics.agency(event.agency))
            flagged = count_when_delivered(run_around)
        await self.held.send(self.journeys_topic, key=ref.encode(), value=value, callback=flagged)
        customers[ref] = {"journey": journey, "contacts": contacts, "p": message.partition}
        idle.note(message.partition, ref, at)
        idle.advance(message.partition, at)
        idle.expire(message.partition)
        metrics.child(metrics.processing_latency, "journeys").observe(
            max(0.0, time.time() - record.input_timestamp)
        )
