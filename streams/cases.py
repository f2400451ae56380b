"""Case correlation: interactions (re-keyed by case_id) → case table → observations.

    <app>-interactions-by-case-id ──▶ cases[case_id] ──▶ <app>-observations-by-group
                                                            (time_to_first_response, …)
Repeat contacts are observed per customer, in streams.journeys.

Each case keeps the event_ids it applied, so redeliveries change nothing; out-of-order and
cross-agency events are handled in processors.cases. Closed cases are deleted once their
partition's event time is `closed_case_retention_days` past the close (a redelivery or late
event of a forgotten case starts a new partial case).
"""

from __future__ import annotations

import math
import time
from typing import Any

import faust

from servicepulse.processors.cases import (
    SECONDS_PER_DAY,
    Case,
    apply_interaction,
    awaited_standards,
    open_case_age,
)
from servicepulse.processors.records import SourcePosition
from servicepulse.processors.standards import StandardsConfig
from servicepulse.schemas.models import InteractionEvent
from servicepulse.streams import topology
from servicepulse.streams.deadletters import DeadLetters, run_agent
from servicepulse.streams.delivery import held_writes
from servicepulse.streams.expiry import EventTimeExpiry
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.observations import send_observations
from servicepulse.streams.settings import Settings
from servicepulse.streams.watermarks import StageWatermarks, channels_of

OPEN_CASES_REPORT_SECONDS = 10.0


def register_case_correlation(
    app: faust.App, settings: Settings, metrics: Metrics, standards: StandardsConfig
) -> None:
    flow = CaseCorrelation(app, settings, metrics, standards)
    run_agent(app, settings, flow.dead_letters, topology.CORRELATE_CASES, flow.correlate_one)

    @app.timer(OPEN_CASES_REPORT_SECONDS)  # type: ignore[untyped-decorator]
    async def report_open_cases() -> None:
        active = {
            tp.partition
            for tp in app.assignor.assigned_actives()
            if tp.topic == flow.source.name(settings)
        }
        flow.report_open_cases(active)
        flow.report_unanswered(active)


def closed_now(case: Case) -> bool:
    return open_case_age(case, math.inf) is None and case["last_closed_at"] is not None


class CaseCorrelation:
    """The correlate-cases agent's state (the cases table, closed-case expiry) and steps."""

    def __init__(
        self, app: faust.App, settings: Settings, metrics: Metrics, standards: StandardsConfig
    ) -> None:
        self.metrics, self.standards = metrics, standards
        self.source = topology.CORRELATE_CASES.source
        self.observations = topology.topic(app, settings, topology.OBSERVATIONS_BY_GROUP)
        self.dead_letters = DeadLetters(app, settings, metrics)
        self.watermarks = StageWatermarks(
            app, settings, self.source.name(settings), [(self.observations, settings.partitions)],
            upstream=channels_of([topology.INTERACTION_EVENTS.name(settings)], settings.partitions),
        )  # fmt: skip
        self.cases = topology.table(app, settings, topology.CASES)
        self.held = held_writes(app)
        # Closed cases are deleted once their partition's event time is the retention past the
        # close (a reopened case is noted again when it closes again).
        self.closed = EventTimeExpiry(
            app, self.source.name(settings), self.cases,
            settings.closed_case_retention_days * SECONDS_PER_DAY,
            noted_at=lambda case: case["last_closed_at"] if closed_now(case) else None,
        )  # fmt: skip

    async def correlate_one(self, message: Any) -> None:
        record = self.watermarks.event_record(message, self.source.accepts)
        if record is None:
            return  # a watermark record, noted
        event, cases, closed, metrics = record.event, self.cases, self.closed, self.metrics
        assert isinstance(event, InteractionEvent)  # the only type this topic accepts
        before = cases.get(event.case_id)
        case, found = apply_interaction(before, event, repeat_days=0)
        if case is before:
            metrics.events_duplicate.labels("interaction").inc()
            return
        origin = SourcePosition(message.topic, message.partition, message.offset)
        # Outputs first, then the case (its changelog write held until they are delivered:
        # streams.delivery): a worker stopped in between re-emits them on restart (the window
        # agent drops repeats by origin) instead of losing them.
        await send_observations(self.held, self.observations, found, event.event_id, origin)
        for obs in found:
            labels = (metrics.agency(obs.agency), metrics.service(obs.service), obs.channel)
            if obs.standard == "time_to_first_response":
                metrics.child(metrics.first_response, *labels).observe(obs.value)
            elif obs.standard == "time_to_resolution":
                metrics.child(metrics.resolution, *labels).observe(obs.value)
        case["p"] = message.partition
        cases[event.case_id] = case
        closed.advance(message.partition, event.occurred_at_epoch)
        closed_at = case["last_closed_at"]
        if (
            closed_at is not None
            and closed_now(case)
            and (before is None or before["last_closed_at"] != closed_at)
        ):
            closed.note(message.partition, event.case_id, closed_at)
        closed.expire(message.partition)
        metrics.child(metrics.processing_latency, "cases").observe(
            max(0.0, time.time() - record.input_timestamp)
        )

    def report_open_cases(self, active: set[int]) -> None:
        """Open-case gauges from the cases of the partitions this worker actively owns."""
        metrics = self.metrics
        counts: dict[tuple[str, str], int] = {}
        oldest: dict[tuple[str, str], float] = {}
        for case in list(self.cases.values()):
            partition = case.get("p")
            now = self.closed.now(partition)
            age = open_case_age(case, now) if partition in active else None
            if age is not None:
                labels = (metrics.agency(case["agency"]), metrics.service(case["service"]))
                counts[labels] = counts.get(labels, 0) + 1
                oldest[labels] = max(oldest.get(labels, 0.0), age)
        metrics.open_cases.clear()
        metrics.open_case_oldest_age.clear()
        for labels, count in counts.items():
            metrics.open_cases.labels(*labels).set(count)
            metrics.open_case_oldest_age.labels(*labels).set(oldest[labels])

    def report_unanswered(self, active: set[int]) -> None:
        """Oldest case still waiting on each duration standard, and how many are past its
        target: a case nobody answers is observed by no window until it completes."""
        metrics = self.metrics
        waiting: dict[tuple[str, str, str, str], float] = {}
        over: dict[tuple[str, str, str, str], int] = {}
        for case in list(self.cases.values()):
            partition = case.get("p")
            now = self.closed.now(partition)
            found = awaited_standards(case, now) if partition in active else None
            if found is None:
                continue
            age, names = found
            group = (case["agency"], case["service"], case["channel"])
            resolved = self.standards.for_group(*group)
            for name in names:
                if name not in resolved:
                    continue
                labels = (metrics.agency(group[0]), metrics.service(group[1]), group[2], name)
                waiting[labels] = max(waiting.get(labels, 0.0), age)
                late = age > resolved[name].target
                over[labels] = over.get(labels, 0) + (1 if late else 0)
        metrics.unanswered_oldest_age.clear()
        metrics.unanswered_over_target.clear()
        for labels, age in waiting.items():
            metrics.unanswered_oldest_age.labels(*labels).set(age)
            metrics.unanswered_over_target.labels(*labels).set(over[labels])
