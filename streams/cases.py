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

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import faust

from servicepulse.processors.cases import (
    SECONDS_PER_DAY,
    Case,
    apply_interaction,
    awaited_standards,
    open_case_age,
)
from servicepulse.processors.envelope import EventRecord
from servicepulse.processors.records import SourcePosition
from servicepulse.processors.standards import StandardsConfig
from servicepulse.schemas.models import InteractionEvent
from servicepulse.streams import topology
from servicepulse.streams.deadletters import DeadLetters, for_each_event, run_agent
from servicepulse.streams.delivery import held_writes
from servicepulse.streams.expiry import EventTimeExpiry
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.observations import ObservationSender
from servicepulse.streams.settings import Settings
from servicepulse.streams.watermarks import StageWatermarks, channels_of

OPEN_CASES_REPORT_SECONDS = 10.0
CASES_PER_SLICE = 2000


def register_case_correlation(
    app: faust.App, settings: Settings, metrics: Metrics, standards: StandardsConfig
) -> None:
    flow = CaseCorrelation(app, settings, metrics, standards)
    agent = topology.CORRELATE_CASES
    handle = for_each_event(agent, flow.dead_letters, flow.watermarks, flow.correlate_one)
    run_agent(app, settings, flow.dead_letters, agent, handle)

    def active_partitions() -> set[int]:
        source = flow.source.name(settings)
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == source}

    @app.timer(OPEN_CASES_REPORT_SECONDS)  # type: ignore[untyped-decorator]
    async def report_open_cases() -> None:
        await flow.report_backlog(active_partitions)


def closed_now(case: Case) -> bool:
    return open_case_age(case, math.inf) is None and case["last_closed_at"] is not None


class CaseCorrelation:
    """The correlate-cases agent's state (the cases table, closed-case expiry) and steps."""

    def __init__(
        self, app: faust.App, settings: Settings, metrics: Metrics, standards: StandardsConfig
    ) -> None:
        self.metrics, self.standards = metrics, standards
        self.source = topology.CORRELATE_CASES.source
        self.observations = ObservationSender(app, settings)
        self.dead_letters = DeadLetters(app, settings, metrics)
        self.watermarks = StageWatermarks(
            app, settings, self.source.name(settings), [self.observations.destination],
            upstream=channels_of([topology.INTERACTION_EVENTS.name(settings)], settings.partitions),
            before_send=self.observations.flush,
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

    async def correlate_one(
        self, message: Any, record: EventRecord, origin: SourcePosition
    ) -> None:
        event, cases, closed, metrics = record.event, self.cases, self.closed, self.metrics
        assert isinstance(event, InteractionEvent)  # the only type this topic accepts
        before = cases.get(event.case_id)
        case, found = apply_interaction(before, event, repeat_days=0)
        if case is before:
            metrics.events_duplicate.labels("interaction").inc()
            return
        # Outputs first, then the case (its changelog write held until they are delivered:
        # streams.delivery): a worker stopped in between re-emits them on restart (the window
        # agent drops repeats by origin) instead of losing them.
        await self.observations.send(found, event.event_id, origin)
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

    async def report_backlog(self, active_partitions: Callable[[], set[int]]) -> None:
        """Open-case gauges, and the oldest case still waiting on each duration standard with
        how many are past its target (a case nobody answers is observed by no window until it
        completes), from one walk over the cases of the partitions this worker actively owns.

        The walk yields to the agents every ``CASES_PER_SLICE`` cases: a national backlog holds
        hundreds of thousands, at a few µs each. A walk that spans a rebalance sets nothing;
        the next comes ``OPEN_CASES_REPORT_SECONDS`` later."""
        metrics, active = self.metrics, active_partitions()
        counts: dict[tuple[str, str], int] = {}
        oldest: dict[tuple[str, str], float] = {}
        waiting: dict[tuple[str, str, str, str], float] = {}
        over: dict[tuple[str, str, str, str], int] = {}
        for index, case in enumerate(list(self.cases.values())):
            if index and index % CASES_PER_SLICE == 0:
                await asyncio.sleep(0)
            partition = case.get("p")
            if partition not in active:
                continue
            found = awaited_standards(case, self.closed.now(partition))
            if found is None:
                continue  # closed, or its opening not known yet
            age, names = found
            group = (case["agency"], case["service"], case["channel"])
            backlog = (metrics.agency(group[0]), metrics.service(group[1]))
            counts[backlog] = counts.get(backlog, 0) + 1
            oldest[backlog] = max(oldest.get(backlog, 0.0), age)
            resolved = self.standards.for_group(*group)
            for name in names:
                if name not in resolved:
                    continue
                labels = (*backlog, group[2], name)
                waiting[labels] = max(waiting.get(labels, 0.0), age)
                over[labels] = over.get(labels, 0) + (1 if age > resolved[name].target else 0)
        if active_partitions() != active:
            return
        metrics.open_cases.clear()
        metrics.open_case_oldest_age.clear()
        for backlog, count in counts.items():
            metrics.open_cases.labels(*backlog).set(count)
            metrics.open_case_oldest_age.labels(*backlog).set(oldest[backlog])
        metrics.unanswered_oldest_age.clear()
        metrics.unanswered_over_target.clear()
        for labels, age in waiting.items():
            metrics.unanswered_oldest_age.labels(*labels).set(age)
            metrics.unanswered_over_target.labels(*labels).set(over[labels])
