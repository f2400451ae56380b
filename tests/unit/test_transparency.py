"""Public daily performance: accumulation, small-cell suppression, schema, nothing private."""

from __future__ import annotations

import pytest

from processors.cases import Observation
from processors.transparency import (
    DayState,
    add_to_day,
    day_of,
    public_performance,
)
from schemas.contract import validator

T0 = 1_777_626_000.0  # 2026-05-01T09:00:00Z
TARGET = 3600.0


def csat(value: float, agency: str = "ssa", service: str = "retirement") -> Observation:
    return Observation(agency, service, "phone", "csat", T0, value)


def duration(seconds: float, standard: str = "time_to_first_response") -> Observation:
    return Observation("ssa", "retirement", "phone", standard, T0, seconds)


def build(csats: list[float], durations: list[float]) -> DayState:
    state: DayState | None = None
    for value in csats:
        state = add_to_day(state, csat(value))
    for seconds in durations:
        state = add_to_day(state, duration(seconds), target_seconds=TARGET)
    assert state is not None
    return state


def test_day_of_is_utc() -> None:
    assert day_of(T0) == "2026-05-01"


def test_published_row() -> None:
    state = build([1.0] * 8 + [0.0] * 4, [60.0] * 9 + [7200.0] * 3)
    (row,) = public_performance(state["day"], state["groups"])
    assert row == {
        "day": "2026-05-01",
        "agency": "ssa",
        "service": "retirement",
        "suppressed": False,
        "responses": 12,
        "satisfaction_share": 0.667,
        "compliance": {"time_to_first_response": {"cases": 12, "within_target_share": 0.75}},
    }
    validator("public-performance.v1").validate(row)


def test_small_groups_are_marked_suppressed_without_values() -> None:
    state = build([1.0] * 9, [60.0] * 50)
    (row,) = public_performance(state["day"], state["groups"])
    assert row == {
        "day": "2026-05-01",
        "agency": "ssa",
        "service": "retirement",
        "suppressed": True,
    }
    validator("public-performance.v1").validate(row)


def test_small_compliance_cells_are_left_out() -> None:
    state = build([1.0] * 10, [60.0] * 3)
    (row,) = public_performance(state["day"], state["groups"])
    assert row["compliance"] == {}
    assert public_performance(state["day"], state["groups"], min_responses=3)[0]["compliance"]


def test_other_standards_and_untargeted_durations_are_ignored() -> None:
    state = add_to_day(None, Observation("ssa", "r", "web", "abandonment_rate", T0, 1.0))
    assert state["groups"] == {}
    assert add_to_day(state, duration(10.0)) == state  # no target known


def test_accumulator_is_pure_and_checks_the_day() -> None:
    state = build([1.0], [])
    before = {**state, "groups": dict(state["groups"])}
    add_to_day(state, csat(0.0))
    assert state == before
    with pytest.raises(ValueError):
        add_to_day(state, Observation("ssa", "r", "web", "csat", T0 + 86_400, 1.0))


def test_rows_carry_nothing_private() -> None:
    state = build([1.0] * 20, [60.0] * 20)
    state = add_to_day(state, csat(1.0, agency="irs", service="refunds"))
    rows = public_performance(state["day"], state["groups"])
    assert [(r["agency"], r["suppressed"]) for r in rows] == [("irs", True), ("ssa", False)]
    allowed = {"day", "agency", "service", "suppressed", "responses", "satisfaction_share",
               "compliance"}  # fmt: skip
    for row in rows:
        assert set(row) <= allowed
        validator("public-performance.v1").validate(row)


def test_schema_rejects_values_on_a_suppressed_row() -> None:
    row = {"day": "2026-05-01", "agency": "a", "service": "s", "suppressed": True, "responses": 3}
    assert not validator("public-performance.v1").is_valid(row)
