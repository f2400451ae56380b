"""processors.state_shapes: every table's changelog values fit its shape; wrong shapes are named.

Values the case, journey and window handlers write for any history are checked in
tests/unit/test_fuzz.py; the rest are built here the way their flows build them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from servicepulse.processors.alerts import AlertPolicy, step
from servicepulse.processors.cases import apply_interaction
from servicepulse.processors.records import dumps
from servicepulse.processors.state_shapes import mismatch
from servicepulse.processors.transparency import fold_final
from servicepulse.schemas.models import InteractionKind
from servicepulse.streams import topology
from tests.unit.events import interaction
from tests.unit.shared_standards import CSAT

SUMMARY = {
    "agency": "ssa", "service": "retirement", "channel": "phone", "window": "one_day",
    "window_start": "2026-11-02T00:00:00.000Z", "window_end": "2026-11-03T00:00:00.000Z",
    "standard": "csat", "count": 30, "hits": 12, "target": 0.8, "objective": None,
    "compliance": 0.4, "value": 0.4, "status": "breached",
}  # fmt: skip
META = {"off": 3, "origins": {"in:0": 2}, "starts": {"300": [0, 300]}}
PARTITION = {"wm": 1.5, "groups": ["ssa|retirement|phone|csat"],
             "tracker": {"output": 1.5, "channels": {"in:0": 1.5, "in:1": None}}}  # fmt: skip
PANE = {"agg": {"count": 1, "hits": 1, "good": 0, "sum": 0.0, "sketch": None}, "off": 2}


def as_restored(value: Any) -> Any:
    """The value as a changelog gives it back: JSON (tuples become arrays)."""
    return json.loads(dumps(value))


def test_every_table_has_a_shape_check() -> None:
    assert all(callable(table.shape) for table in topology.TABLES)


def test_values_the_flows_write_fit_their_tables() -> None:
    alert_state, _ = step(None, SUMMARY, 1_793_606_400.0, AlertPolicy(for_seconds=0), CSAT)
    rows = [
        (topology.SEEN_EVENT_IDS, "e-1", {"seen": 1_793_606_400.25, "p": 3}),
        (topology.WINDOW_PANES, "w|0", PARTITION),
        (topology.WINDOW_PANES, "w|1", {"wm": None, "tracker": None, "groups": []}),
        (topology.WINDOW_PANES, "m|ssa|retirement|phone|csat", META),
        (topology.WINDOW_PANES, "p|ssa|retirement|phone|csat|300:0", PANE),
        (topology.ALERT_STATES, "ssa|retirement|phone|csat", alert_state),
        (topology.BENCHMARK_LATEST, "ssa|retirement|phone|csat",
         {"compliance": 0.4, "at": SUMMARY["window_end"]}),
        (topology.PUBLIC_DAYS, "ssa|retirement|2026-11-02",
         {"p": 0, "end": 1_793_664_000.0, "parts": fold_final(None, SUMMARY)}),
    ]  # fmt: skip
    for table, key, value in rows:
        assert table.shape(key, as_restored(value)) is None, (table.name, value)


def a_case() -> dict[str, Any]:
    case, _ = apply_interaction(None, interaction(InteractionKind.OPENED, timedelta()), 30)
    transfer = interaction(InteractionKind.TRANSFERRED, timedelta(minutes=5), to_agency="irs")
    case, _ = apply_interaction(case, transfer, 30)
    restored: dict[str, Any] = as_restored(case)
    return restored


@pytest.mark.parametrize(
    ("table", "key", "value", "named"),
    [
        (topology.SEEN_EVENT_IDS, "e-1", 40, "expected an object (SeenId), got 40"),
        (topology.SEEN_EVENT_IDS, "e-1", [1, 2], "expected an object (SeenId), got [1, 2]"),
        (topology.SEEN_EVENT_IDS, "e-1", {"seen": 1.0}, "field 'p' is missing"),
        (topology.SEEN_EVENT_IDS, "e-1", {"seen": "x", "p": 0}, ".seen expected a finite number"),
        (topology.SEEN_EVENT_IDS, "e-1", {"seen": 1.0, "p": True}, ".p expected int, got True"),
        (topology.CASES, "c1", {"case_id": "c1"}, "field 'event_ids' is missing"),
        (topology.CUSTOMERS, "r", {"journey": 1, "contacts": None}, ".journey expected Journey"),
        (topology.WINDOW_PANES, "w|0", {**PARTITION, "wm": "x"}, ".wm expected"),
        (topology.WINDOW_PANES, "w|0", {**PARTITION, "tracker": {"output": 1.0}},
         ".tracker expected TrackerState or null"),
        (topology.WINDOW_PANES, "m|a|b|c|csat", {**META, "off": "x"}, ".off expected int"),
        (topology.WINDOW_PANES, "m|a|b|c|csat", {**META, "starts": {"300": [0, "x"]}},
         ".starts['300'][1] expected int, got 'x'"),
        (topology.WINDOW_PANES, "p|a|b|c|csat|300:0", META, "field 'agg' is missing"),
        (topology.WINDOW_PANES, "x|a", PANE, "a window meta (m|…) nor a pane (p|…)"),
        (topology.ALERT_STATES, "a|b|c|csat", {"version": 1, "last_at": None, "alerts": {
            "loud": {"phase": "firing", "since": 1.0, "recovering_since": None}}},
         ".alerts key 'loud': expected one of ('warning', 'critical')"),
        (topology.BENCHMARK_LATEST, "a|b|csat", {"compliance": 0.4, "at": "x"},
         "neither agency|service|channel|standard"),
        (topology.BENCHMARK_LATEST, "a|b|c|csat", {"compliance": None, "at": "x"},
         ".compliance expected a finite number"),
        (topology.PUBLIC_DAYS, "a|b|2026-11-02", {"p": 0, "end": 1.0, "parts": {"web|csat": [1]}},
         ".parts['web|csat'] expected an array of 2"),
    ],
)  # fmt: skip
def test_a_wrong_shape_is_named_with_where_it_is(
    table: topology.Table, key: str, value: Any, named: str
) -> None:
    problem = table.shape(key, value)
    assert problem is not None and named in problem, problem


def test_json_arrays_the_typeddicts_leave_open_are_checked_element_by_element() -> None:
    case = a_case()
    assert topology.CASES.shape("c1", case) is None
    case["transfers"] = [[1.0, "irs"]]
    assert ".transfers[0] expected an array of 3" in str(topology.CASES.shape("c1", case))


@pytest.mark.parametrize(
    ("value", "hint", "fits"),
    [
        (1, float, True), (1.5, float, True), (float("nan"), float, False),
        (float("inf"), float, False), (True, float, False), (1.0, int, False), (True, int, False),
        (True, bool, True), (None, str | None, True), ("a", list[str], False),
        ([1, "a"], tuple[int, str], True), ({"k": 1}, dict[str, int], True),
    ],
)  # fmt: skip
def test_numbers_are_finite_and_ints_integral(value: Any, hint: Any, fits: bool) -> None:
    assert (mismatch(value, hint) is None) is fits
