"""Breach alert state machine: for/resolve timing, severities, hysteresis, restarts, contract."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

import pytest

from servicepulse.processors.aggregates import evaluate_status
from servicepulse.processors.alerts import (
    AlertPolicy,
    AlertState,
    fingerprint,
    firing,
    initial_state,
    step,
)
from servicepulse.processors.standards import Standard
from servicepulse.schemas import contract
from tests.unit.shared_standards import ABANDON, CSAT, TTFR

POLICY = AlertPolicy()  # for 600 s, resolve after 900 s, hysteresis 2%
T0 = 1_777_900_000.0
BREACHED = 0.20  # abandonment: > max 0.05
AT_RISK = 0.047  # > 0.045 (= 0.05 × 0.9), <= 0.05
MET = 0.01


def summary(value: float | None, standard: Standard = ABANDON, count: int = 100) -> dict[str, Any]:
    """What the window stage passes to ``step``: aggregates.summary() plus the group/window."""
    result: dict[str, Any] = {
        "agency": "ssa",
        "service": "retirement",
        "channel": "phone",
        "window": "one_hour",
        "window_start": 1_777_896_000,
        "window_end": 1_777_899_600,
        "standard": standard.name,
        "kind": standard.kind,
        "count": count,
        "target": standard.target,
        "value": value,
        "compliance": value,
        "status": evaluate_status(value, count, standard),
    }
    if standard.kind == "duration":
        result["objective"] = standard.objective
    return result


def run(
    values: Sequence[tuple[float, float | None]],
    standard: Standard = ABANDON,
    policy: AlertPolicy = POLICY,
    state: AlertState | None = None,
    count: int = 100,
) -> tuple[AlertState | None, list[dict[str, Any]]]:
    """Feed (seconds after T0, value) pairs; return the final state and every event."""
    events: list[dict[str, Any]] = []
    for offset, value in values:
        state, new = step(state, summary(value, standard, count), T0 + offset, policy, standard)
        events.extend(new)
    return state, events


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["state"], e["severity"]) for e in events]


def every(seconds: float, start: float, end: float, value: float) -> list[tuple[float, float]]:
    count = int((end - start) // seconds) + 1
    return [(start + i * seconds, value) for i in range(count)]


def test_breach_fires_after_for_seconds_not_before() -> None:
    _, before = run([(0, BREACHED), (300, BREACHED), (599, BREACHED)])
    assert before == []
    _, events = run([(0, BREACHED), (300, BREACHED), (600, BREACHED)])
    assert kinds(events) == [("firing", "warning"), ("firing", "critical")]
    critical = events[1]
    assert critical["started_at"] == "2026-05-04T13:06:40Z"  # T0: when the breach began
    assert critical["resolved_at"] is None
    assert critical["observed"] == BREACHED
    assert critical["window"] == "one_hour"
    assert critical["window_start"] == "2026-05-04T12:00:00Z"
    assert critical["runbook_url"] == "https://servicepulse.dev/runbooks/standards#abandonment_rate"
    assert "abandonment_rate is breached" in critical["summary"]
    assert "20.0% (max 5.0%)" in critical["summary"]


def test_a_recovered_sample_resets_the_pending_clock() -> None:
    _, events = run([(0, BREACHED), (500, MET), (700, BREACHED), (1200, BREACHED)])
    assert events == []
    _, events = run([(0, BREACHED), (500, MET), (700, BREACHED), (1300, BREACHED)])
    assert kinds(events) == [("firing", "warning"), ("firing", "critical")]
    assert events[0]["started_at"] == "2026-05-04T13:18:20Z"  # T0 + 700


def test_zero_for_fires_on_the_first_summary() -> None:
    _, events = run([(0, BREACHED)], policy=AlertPolicy(for_seconds=0))
    assert kinds(events) == [("firing", "warning"), ("firing", "critical")]


def test_at_risk_fires_a_warning_only() -> None:
    state, events = run(every(300, 0, 3600, AT_RISK))
    assert kinds(events) == [("firing", "warning")]
    assert "abandonment_rate is at risk" in events[0]["summary"]
    assert firing(state) == {"warning": True, "critical": False}


def test_escalation_keeps_the_warning_and_deescalation_resolves_only_the_critical() -> None:
    samples = every(300, 0, 600, AT_RISK) + every(300, 900, 1500, BREACHED)
    state, events = run(samples)
    assert kinds(events) == [("firing", "warning"), ("firing", "critical")]
    warning, critical = events
    assert warning["fingerprint"] != critical["fingerprint"]
    assert critical["started_at"] == "2026-05-04T13:21:40Z"  # T0 + 900
    assert firing(state) == {"warning": True, "critical": True}
    # Back to at_risk: 0.047 <= 0.05 × 0.98, so the critical alert recovers; the warning not.
    state, later = run(every(300, 1800, 1800 + 899, AT_RISK), state=state)
    assert later == []
    state, later = run([(1800 + 900, AT_RISK)], state=state)
    assert kinds(later) == [("resolved", "critical")]
    assert later[0]["fingerprint"] == critical["fingerprint"]
    assert later[0]["started_at"] == critical["started_at"]
    assert firing(state) == {"warning": True, "critical": False}


def test_resolves_only_after_recovery_persists() -> None:
    state, events = run(every(300, 0, 600, BREACHED))
    assert len(events) == 2
    state, events = run(every(300, 900, 1500, MET), state=state)
    assert events == []  # recovering since 900, 600 s so far
    state, events = run([(1799, MET)], state=state)
    assert events == []
    state, events = run([(1800, MET)], state=state)
    assert kinds(events) == [("resolved", "warning"), ("resolved", "critical")]
    assert all(e["resolved_at"] == "2026-05-04T13:36:40Z" for e in events)  # T0 + 1800
    assert all(e["observed"] == MET for e in events)
    assert "is no longer breached" in events[1]["summary"]
    assert state == {**initial_state(), "last_at": T0 + 1800}


def test_a_relapse_during_recovery_restarts_the_recovery_clock() -> None:
    state, _ = run(every(300, 0, 600, BREACHED))
    samples = [(900, MET), (1200, MET), (1500, BREACHED), (1800, MET), (2400, MET)]
    state, events = run(samples, state=state)
    assert events == []  # recovering since 1800 only
    state, events = run([(2700, MET)], state=state)
    assert kinds(events) == [("resolved", "warning"), ("resolved", "critical")]


def test_hysteresis_keeps_firing_just_inside_the_threshold() -> None:
    state, _ = run(every(300, 0, 600, BREACHED))
    # 0.0495 is not breached (<= 0.05) but not 2% clear of it (needs <= 0.049).
    state, events = run(every(300, 900, 86_400, 0.0495), state=state)
    assert events == []
    assert firing(state)["critical"]
    state, events = run(every(300, 87_000, 87_900, 0.049), state=state)
    assert kinds(events) == [("resolved", "critical")]


def test_hysteresis_for_at_least_and_duration_standards() -> None:
    # csat min 0.80: recovered from breach at >= 0.816; at_risk bound 0.88 -> warning >= 0.8976.
    state, events = run(every(300, 0, 600, 0.70), standard=CSAT)
    assert kinds(events) == [("firing", "warning"), ("firing", "critical")]
    state, events = run(every(300, 900, 7200, 0.81), standard=CSAT, state=state)
    assert events == []
    state, events = run(every(300, 7500, 8400, 0.85), standard=CSAT, state=state)
    assert kinds(events) == [("resolved", "critical")]
    state, events = run(every(300, 8700, 20_000, 0.89), standard=CSAT, state=state)
    assert events == []  # met (>= 0.88) but not 2% clear of the at-risk bound
    state, events = run(every(300, 20_100, 21_000, 0.90), standard=CSAT, state=state)
    assert kinds(events) == [("resolved", "warning")]
    # Durations: objective 0.90 share within target.
    _, events = run(every(300, 0, 600, 0.85), standard=TTFR)
    assert kinds(events) == [("firing", "warning"), ("firing", "critical")]
    assert events[1]["objective"] == 0.90
    assert events[1]["target"] == 14400.0
    assert "85.0% within 14400 s (objective 90.0%)" in events[1]["summary"]


def test_oscillation_around_the_threshold_gives_a_bounded_number_of_events() -> None:
    # 0.05 ± 0.002, 30-minute period, a summary a minute, for 3 days: above the threshold
    # half of each period (15 min > for 10 min) but 2% clear of it only a third (10 min <
    # resolve 15 min), so the alert fires once and stays firing instead of flapping.
    samples = [
        (60.0 * i, 0.05 + 0.002 * math.sin(2 * math.pi * i / 30)) for i in range(3 * 24 * 60)
    ]
    state, events = run(samples)
    assert kinds(events) == [("firing", "warning"), ("firing", "critical")]
    assert firing(state) == {"warning": True, "critical": True}
    # Slower swings (2 h period, ± 0.01): each cycle may fire and resolve each severity once,
    # never more.
    slow = [(60.0 * i, 0.05 + 0.01 * math.sin(2 * math.pi * i / 120)) for i in range(3 * 24 * 60)]
    _, events = run(slow)
    cycles = 3 * 24 * 60 // 120
    assert 0 < len(events) <= 4 * cycles
    # Without for/resolve/hysteresis the same input flaps on almost every threshold crossing.
    raw = AlertPolicy(for_seconds=0, resolve_after_seconds=0, hysteresis=0)
    _, flapping = run(samples, policy=raw)
    assert len(flapping) > 100


def test_insufficient_data_neither_fires_nor_resolves() -> None:
    # Pending, then too few observations for a day: nothing fires, nothing resets.
    state, events = run([(0, BREACHED)])
    state, events = run(every(300, 300, 86_400, BREACHED), state=state, count=5)
    assert events == []
    assert state is not None and state["alerts"]["critical"]["phase"] == "pending"
    # Firing, then a day of insufficient data (or no value at all): still firing.
    state, events = run(every(300, 0, 600, BREACHED))
    state, events = run(every(300, 900, 86_400, MET), state=state, count=5)
    assert events == []
    state, events = run([(90_000, None)], state=state)
    assert events == []
    assert firing(state) == {"warning": True, "critical": True}


def test_restart_with_the_stored_state_does_not_refire_or_lose_the_alert() -> None:
    samples = (
        every(300, 0, 3000, BREACHED) + every(300, 3300, 5400, MET) + every(300, 5700, 7200, 0.1)
    )
    _, expected = run(samples)
    # Same input with the state stored as JSON (a changelog table) and reloaded at every step.
    stored: str | None = None
    events: list[dict[str, Any]] = []
    for offset, value in samples:
        state = json.loads(stored) if stored is not None else None
        new_state, new = step(state, summary(value), T0 + offset, POLICY, ABANDON)
        stored = json.dumps(new_state)
        events.extend(new)
        # A crash after the step but before its offset was committed re-processes it.
        replayed_state, replayed = step(
            json.loads(stored), summary(value), T0 + offset, POLICY, ABANDON
        )
        assert replayed == []
        assert replayed_state == json.loads(stored)
    assert events == expected
    assert kinds(events) == [
        ("firing", "warning"),
        ("firing", "critical"),
        ("resolved", "warning"),
        ("resolved", "critical"),
        ("firing", "warning"),
        ("firing", "critical"),
    ]
    # An older summary replayed later is ignored.
    state = json.loads(stored or "null")
    after, old = step(state, summary(MET), T0, POLICY, ABANDON)
    assert old == [] and after == state


def test_step_does_not_modify_its_input_state() -> None:
    state, _ = run(every(300, 0, 600, BREACHED))
    snapshot = json.dumps(state)
    step(state, summary(MET), T0 + 900, POLICY, ABANDON)
    assert json.dumps(state) == snapshot


def test_fingerprints_are_stable() -> None:
    assert fingerprint("ssa", "retirement", "phone", "abandonment_rate", "critical") == (
        "687f2cf44eca3f24"
    )
    assert fingerprint("ssa", "retirement", "phone", "abandonment_rate", "warning") == (
        "515c7a901ed90c08"
    )
    text = '["ssa","retirement","phone","abandonment_rate","critical"]'
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == "687f2cf44eca3f24"
    _, events = run(every(300, 0, 600, BREACHED) + every(300, 900, 1800, MET))
    by_severity: dict[str, set[str]] = {}
    for event in events:
        by_severity.setdefault(event["severity"], set()).add(event["fingerprint"])
    assert by_severity == {"warning": {"515c7a901ed90c08"}, "critical": {"687f2cf44eca3f24"}}


def test_policy_is_validated() -> None:
    with pytest.raises(ValueError):
        AlertPolicy(for_seconds=-1)
    with pytest.raises(ValueError):
        AlertPolicy(hysteresis=1.0)
    custom = AlertPolicy(runbook_base_url="https://runbooks.example.gov/sp")
    _, events = run([(0, BREACHED)], policy=AlertPolicy(0, 0, 0.02, custom.runbook_base_url))
    assert events[0]["runbook_url"] == "https://runbooks.example.gov/sp#abandonment_rate"


# --- contract: service.alerts messages match schemas/json/service-alert.v1.schema.json ---


def _all_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for standard, bad, good in ((ABANDON, BREACHED, MET), (CSAT, 0.5, 0.95), (TTFR, 0.5, 0.99)):
        _, new = run(every(300, 0, 600, bad) + every(300, 900, 1800, good), standard=standard)
        events.extend(new)
    return events


def test_alert_events_match_the_published_schema() -> None:
    validator = contract.validator("service-alert.v1")
    events = _all_events()
    assert {e["state"] for e in events} == {"firing", "resolved"}
    for event in events:
        document = json.loads(json.dumps(event))
        assert [e.message for e in validator.iter_errors(document)] == [], document
    schema = contract.load_schema("service-alert.v1")
    assert set(schema["required"]) == set(events[0])


def test_schema_rejects_inconsistent_alerts() -> None:
    validator = contract.validator("service-alert.v1")
    firing_event, resolved_event = _all_events()[1], _all_events()[3]
    assert firing_event["state"] == "firing" and resolved_event["state"] == "resolved"
    for broken in (
        {**resolved_event, "resolved_at": None},
        {**firing_event, "resolved_at": "2026-05-04T13:36:40Z"},
        {**firing_event, "fingerprint": "687F2CF44ECA3F24"},
        {**firing_event, "severity": "page"},
        {**firing_event, "standard": "speed"},
        {**firing_event, "observed": 1.5},
        {**firing_event, "window_end": "2026-05-04 13:00"},
        {**firing_event, "extra": 1},
        {k: v for k, v in firing_event.items() if k != "runbook_url"},
    ):
        assert not validator.is_valid(broken), broken
