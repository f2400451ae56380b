"""The open-case backlog report (streams.cases.CaseCorrelation.report_backlog): one walk over the
cases table feeds both the open-case and the unanswered gauges, lets the agents run while it
walks a large backlog, and sets nothing when a rebalance happened meanwhile.

The cases table is a dict here (the report only reads its values); metrics, standards and case
states are the worker's own."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

from servicepulse.processors.cases import Case, apply_interaction
from servicepulse.processors.standards import load_standards
from servicepulse.schemas.models import InteractionKind
from servicepulse.streams.cases import CASES_PER_SLICE, CaseCorrelation
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import DEFAULT_STANDARDS_FILE
from tests.unit.events import T0, interaction

HOUR = 3600.0


def case_of(case_id: str, partition: int, *kinds: InteractionKind, service: str = "retirement"
            ) -> Case:  # fmt: skip
    case: Case | None = None
    for minutes, kind in enumerate(kinds):
        event = interaction(kind, timedelta(minutes=minutes), case_id=case_id, service=service)
        case, _ = apply_interaction(case, event, 30)
    assert case is not None
    return {**case, "p": partition}


def flow_with(cases: dict[str, Case], now: float) -> tuple[Any, Metrics]:
    metrics = Metrics(CollectorRegistry())
    flow = SimpleNamespace(
        metrics=metrics, cases=cases, standards=load_standards(DEFAULT_STANDARDS_FILE),
        closed=SimpleNamespace(now=lambda partition: now),
    )  # fmt: skip
    return flow, metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_one_walk_reports_open_and_unanswered_cases_of_active_partitions() -> None:
    opened, answered = (
        (InteractionKind.OPENED,),
        (InteractionKind.OPENED, InteractionKind.FIRST_RESPONSE),
    )
    cases = {
        "waiting": case_of("waiting", 0, *opened),
        "answered": case_of("answered", 1, *answered),
        "closed": case_of("closed", 0, InteractionKind.OPENED, InteractionKind.RESOLVED),
        "elsewhere": case_of("elsewhere", 5, *opened),  # a partition another worker owns
    }  # fmt: skip
    flow, metrics = flow_with(cases, now=T0 + 3 * HOUR)  # past the 2 h first-response target
    await CaseCorrelation.report_backlog(flow, lambda: {0, 1})
    group = {"agency": "ssa", "service": "retirement"}
    assert sample(metrics, "servicepulse_open_cases", **group) == 2
    oldest = sample(metrics, "servicepulse_open_case_oldest_age_seconds", **group)
    assert oldest == 3 * HOUR
    waiting = {**group, "channel": "phone", "standard": "time_to_first_response"}
    assert sample(metrics, "servicepulse_unanswered_case_oldest_age_seconds", **waiting) == 3 * HOUR
    assert sample(metrics, "servicepulse_unanswered_cases_over_target", **waiting) == 1
    resolution = {**waiting, "standard": "time_to_resolution"}
    assert sample(metrics, "servicepulse_unanswered_cases_over_target", **resolution) == 0  # 5 days


async def test_a_large_backlog_is_walked_in_slices_with_the_agents_running_between() -> None:
    cases = {
        f"c{n}": case_of(f"c{n}", 0, InteractionKind.OPENED) for n in range(3 * CASES_PER_SLICE)
    }
    flow, metrics = flow_with(cases, now=T0 + HOUR)
    turns = 0

    async def agent() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    running = asyncio.ensure_future(agent())
    await asyncio.sleep(0)
    before = turns
    await CaseCorrelation.report_backlog(flow, lambda: {0})
    running.cancel()
    assert turns - before >= 2  # it let the loop run at least between its slices
    assert sample(metrics, "servicepulse_open_cases", agency="ssa", service="retirement") == len(
        cases
    )


async def test_a_walk_that_spans_a_rebalance_sets_nothing() -> None:
    cases = {"waiting": case_of("waiting", 0, InteractionKind.OPENED)}
    flow, metrics = flow_with(cases, now=T0 + HOUR)
    assignments = iter([{0}, set()])  # partition 0 revoked while the walk ran
    await CaseCorrelation.report_backlog(flow, lambda: next(assignments))
    assert sample(metrics, "servicepulse_open_cases", agency="ssa", service="retirement") is None
