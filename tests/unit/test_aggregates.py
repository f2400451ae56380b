"""Mergeable aggregates: pane merges, quantile accuracy, summaries and status thresholds."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from ddsketch import DDSketch, LogarithmicMapping

from servicepulse.processors.aggregates import (
    AggregateState,
    DurationAggregate,
    RateAggregate,
    Summary,
    aggregator_for,
    evaluate_status,
    quantile,
)
from servicepulse.processors.standards import Standard
from servicepulse.processors.windows import (
    ONE_HOUR,
    pane_size,
    pane_start,
    window_panes,
    windows_containing,
)
from tests.unit.shared_standards import ABANDON, CSAT, TTFR


def empty() -> AggregateState:
    return DurationAggregate(TTFR).initialize()


def add_duration(state: AggregateState, seconds: float, target: float) -> AggregateState:
    return DurationAggregate(replace(TTFR, target=float(target))).add(state, seconds)


def add_rate(state: AggregateState, hit: bool) -> AggregateState:
    return RateAggregate(ABANDON).add(state, 1.0 if hit else 0.0)


def merge(a: AggregateState, b: AggregateState) -> AggregateState:
    return DurationAggregate(TTFR).merge(a, b)


def merge_all(states: list[AggregateState]) -> AggregateState:
    return DurationAggregate(TTFR).merge_all(states)


def summary(state: AggregateState, standard: Standard) -> Summary:
    return aggregator_for(standard).result(state)


def durations(n: int, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    # Heavy-ish tail like real response times: median ~1 h, some of several days.
    return [rng.lognormvariate(8.2, 1.3) for _ in range(n)]


def exact_quantile(values: list[float], q: float) -> float:
    # DDSketch's rank convention: the value at rank floor(q * (n - 1)).
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def test_empty_is_json_and_has_no_value() -> None:
    state = empty()
    assert json.loads(json.dumps(state)) == state
    result = summary(state, TTFR)
    assert result["count"] == 0 and result["value"] is None and result["p90"] is None
    assert result["status"] == "insufficient_data"


def test_add_does_not_modify_its_input() -> None:
    state = empty()
    after = add_duration(state, 10, 100)
    add_duration(after, 20, 100)
    assert state == empty()
    assert after["count"] == 1
    assert after["sketch"]["bins"] == {str(LogarithmicMapping(0.01).key(10)): 1}


def test_state_survives_json_round_trip() -> None:
    state = empty()
    for value in durations(200):
        state = add_duration(state, value, TTFR.target)
    restored = json.loads(json.dumps(state))
    assert restored == state
    assert quantile(restored, 0.9) == quantile(state, 0.9)


def test_quantiles_within_one_percent_on_random_data() -> None:
    values = durations(5000)
    state = empty()
    for value in values:
        state = add_duration(state, value, TTFR.target)
    for q in (0.5, 0.9, 0.99):
        got = quantile(state, q)
        want = exact_quantile(values, q)
        assert got is not None
        assert abs(got - want) <= 0.01 * want, (q, got, want)


def test_matches_the_library_sketch() -> None:
    values = durations(1000, seed=3)
    reference = DDSketch(0.01)
    state = empty()
    for value in values:
        reference.add(value)
        state = add_duration(state, value, TTFR.target)
    for q in (0.01, 0.5, 0.9, 0.99, 1.0):
        assert quantile(state, q) == pytest.approx(reference.get_quantile_value(q), rel=1e-12)


def test_merge_of_panes_equals_direct_aggregate() -> None:
    rng = random.Random(11)
    t0 = 1_767_225_600
    observations = [(t0 + rng.uniform(0, 3600), rng.uniform(0, 30_000)) for _ in range(2000)]
    size = pane_size(ONE_HOUR)
    panes: dict[int, dict[str, object]] = {}
    direct = empty()
    for t, seconds in observations:
        start = pane_start(t, size)
        panes[start] = add_duration(panes.get(start, empty()), seconds, TTFR.target)
        direct = add_duration(direct, seconds, TTFR.target)
    window_start, _ = windows_containing(t0, ONE_HOUR)[-1]
    merged = merge_all([panes[p] for p in window_panes(window_start, ONE_HOUR) if p in panes])
    assert merged["count"] == direct["count"] == 2000
    assert merged["good"] == direct["good"]
    assert merged["sketch"] == direct["sketch"]
    assert merged["sum"] == pytest.approx(direct["sum"], rel=1e-12)
    from_panes, from_direct = summary(merged, TTFR), summary(direct, TTFR)
    assert from_panes.pop("mean") == pytest.approx(from_direct.pop("mean"), rel=1e-12)
    assert from_panes == from_direct


def test_merge_is_commutative_and_empty_is_identity() -> None:
    a = empty()
    b = empty()
    for value in durations(50, seed=1):
        a = add_duration(a, value, 3600)
    for value in durations(50, seed=2):
        b = add_duration(b, value, 3600)
    assert merge(a, b) == merge(b, a)
    assert merge(a, empty()) == a
    assert merge(empty(), a) == a


def test_merge_refuses_different_accuracies() -> None:
    a = add_duration(empty(), 5, 10)
    b = add_duration(empty(), 5, 10)
    b["sketch"] = {**b["sketch"], "gamma": 1.5}
    with pytest.raises(ValueError, match="gamma"):
        merge(a, b)


def test_zero_and_negative_durations_count_as_instant() -> None:
    state = add_duration(add_duration(empty(), 0, 10), -3, 10)
    assert state["sketch"]["zero"] == 2 and state["good"] == 2 and state["sum"] == 0
    assert quantile(state, 0.5) == 0


def test_duration_summary() -> None:
    state = empty()
    for seconds in [100.0] * 18 + [20_000.0, 30_000.0]:
        state = add_duration(state, seconds, TTFR.target)
    result = summary(state, TTFR)
    assert result["count"] == 20
    assert result["compliance"] == 0.9
    # value is the duration at the objective's quantile (p90 here), comparable with target.
    assert result["value"] == pytest.approx(100, rel=0.01)
    assert result["mean"] == pytest.approx((1800 + 50_000) / 20)
    assert result["p50"] == pytest.approx(100, rel=0.01)
    assert result["p99"] == pytest.approx(20_000, rel=0.01)
    assert result["objective"] == 0.90 and result["target"] == 14400
    # 0.90 is exactly the objective: not breached, but within the 10% margin.
    assert result["status"] == "at_risk"
    assert json.loads(json.dumps(result)) == result


def test_rate_summary() -> None:
    state = empty()
    for index in range(40):
        state = add_rate(state, hit=index < 2)
    result = summary(state, ABANDON)
    assert (result["count"], result["hits"], result["value"]) == (40, 2, 0.05)
    # compliance: share of cases meeting the standard (not abandoned).
    assert result["compliance"] == 0.95
    assert result["status"] == "at_risk"


def rate(hits: int, count: int) -> float:
    return hits / count


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (rate(11, 200), "breached"),  # 0.055 > 0.05
        (rate(10, 200), "at_risk"),  # exactly the max: not breached
        (rate(91, 2000), "at_risk"),  # 0.0455 > 0.045
        (rate(9, 200), "met"),  # exactly max * (1 - margin)
        (0.0, "met"),
    ],
)
def test_at_most_thresholds(value: float, status: str) -> None:
    assert evaluate_status(value, 200, ABANDON) == status


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (rate(79, 100), "breached"),
        (rate(80, 100), "at_risk"),  # exactly the min: not breached
        (rate(87, 100), "at_risk"),
        (rate(88, 100), "met"),  # exactly min * (1 + margin), despite 0.8 * 1.1 > 0.88 in floats
        (1.0, "met"),
    ],
)
def test_at_least_thresholds(value: float, status: str) -> None:
    assert evaluate_status(value, 100, CSAT) == status


def test_duration_objective_thresholds_cap_at_one() -> None:
    strict = replace(TTFR, objective=0.95)
    # 0.95 * 1.1 > 1, so the at-risk band is capped: anything short of 100% is at risk.
    assert evaluate_status(1.0, 100, strict) == "met"
    assert evaluate_status(0.99, 100, strict) == "at_risk"
    assert evaluate_status(0.95, 100, strict) == "at_risk"
    assert evaluate_status(0.94, 100, strict) == "breached"
    assert evaluate_status(0.99, 100, TTFR) == "met"  # 0.9 * 1.1 = 0.99 exactly
    assert evaluate_status(0.98, 100, TTFR) == "at_risk"


def test_minimum_sample_boundary() -> None:
    assert evaluate_status(0.0, 19, ABANDON) == "insufficient_data"
    assert evaluate_status(0.0, 20, ABANDON) == "met"
    assert evaluate_status(None, 100, ABANDON) == "insufficient_data"


def test_zero_margin_has_no_at_risk_band() -> None:
    exact = replace(ABANDON, at_risk_margin=0.0)
    assert evaluate_status(0.05, 100, exact) == "met"
    assert evaluate_status(0.051, 100, exact) == "breached"
