"""Changelog values byte for byte: a worker restored from an older changelog must read the same
JSON it wrote, so a change to these strings is a state-format change, not a refactor."""

from __future__ import annotations

import json
from typing import Any

from servicepulse.processors.alerts import AlertPolicy, step
from servicepulse.processors.cases import Observation
from servicepulse.processors.standards import load_standards
from servicepulse.processors.window_engine import Origin, WindowEngine
from servicepulse.streams.settings import DEFAULT_STANDARDS_FILE

T0 = 1_793_606_400.0  # 2026-11-02T08:00:00Z
GROUP = ("ssa", "retirement", "phone")
SKETCH = '{"gamma":1.02020202020202,"zero":1,"bins":{"240":1}}'
TTFR_PANE = (
    f'{{"agg":{{"count":2,"hits":0,"good":2,"sum":120.0,"sketch":{SKETCH}}},"off":1,'
    '"org":{"in:0":1}}'
)
CSAT_PANE = '{"agg":{"count":1,"hits":1,"good":0,"sum":0.0,"sketch":null},"off":2,"org":{"in:0":2}}'
STARTS = '"starts":{"300":[1793606400],"3600":[1793606400]}'


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def test_window_panes_and_meta() -> None:
    engine, store = WindowEngine(load_standards(DEFAULT_STANDARDS_FILE)), {}
    observations = [
        Observation(*GROUP, "time_to_first_response", T0 + 10, 120.0),
        Observation(*GROUP, "time_to_first_response", T0 + 20.5, 0.0),
        Observation(*GROUP, "csat", T0 + 30, 1.0),
    ]
    for offset, obs in enumerate(observations):
        engine.commit(store, engine.apply(store, obs, offset, Origin("in:0", offset)))
    # A watermark record from the one upstream task (no window closes yet).
    engine.commit(store, engine.advance(store, 0, "upstream:0", T0 + 5, False, T0 + 3600))
    prefix = "ssa|retirement|phone"
    groups = f'["{prefix}|time_to_first_response","{prefix}|csat"]'
    tracker = '{"output":1793606405.0,"channels":{"upstream:0":1793606405.0}}'
    assert {key: compact(value) for key, value in store.items()} == {
        f"p|{prefix}|time_to_first_response|300:1793606400": TTFR_PANE,
        f"p|{prefix}|time_to_first_response|3600:1793606400": TTFR_PANE,
        # Written when its panes were listed, by the first observation: a floor, not the last.
        f"m|{prefix}|time_to_first_response": f'{{"off":0,"origins":{{"in:0":0}},{STARTS}}}',
        "w|0": f'{{"wm":1793606405.0,"tracker":{tracker},"groups":{groups}}}',
        f"p|{prefix}|csat|300:1793606400": CSAT_PANE,
        f"p|{prefix}|csat|3600:1793606400": CSAT_PANE,
        f"m|{prefix}|csat": f'{{"off":2,"origins":{{"in:0":2}},{STARTS}}}',
    }  # fmt: skip


def test_window_panes_written_before_panes_knew_their_origins_are_read() -> None:
    """Until session 8 a pane held no "org" and the meta was written for every observation,
    so the meta's origins caught an upstream repeat: they still do."""
    engine = WindowEngine(load_standards(DEFAULT_STANDARDS_FILE))
    prefix = "ssa|retirement|phone"
    old_pane = '{"agg":{"count":1,"hits":1,"good":0,"sum":0.0,"sketch":null},"off":2}'
    store: dict[str, Any] = {
        f"p|{prefix}|csat|300:1793606400": json.loads(old_pane),
        f"p|{prefix}|csat|3600:1793606400": json.loads(old_pane),
        f"m|{prefix}|csat": json.loads(f'{{"off":2,"origins":{{"in:0":2}},{STARTS}}}'),
    }
    repeat = Observation(*GROUP, "csat", T0 + 30, 1.0)
    assert engine.apply(store, repeat, 3, Origin("in:0", 2)).duplicate
    applied = engine.apply(store, Observation(*GROUP, "csat", T0 + 40, 0.0), 4, Origin("in:0", 3))
    engine.commit(store, applied)
    assert not applied.duplicate
    assert store[f"p|{prefix}|csat|300:1793606400"]["agg"]["count"] == 2
    assert store[f"p|{prefix}|csat|300:1793606400"]["org"] == {"in:0": 3}


def test_alert_state() -> None:
    config = load_standards(DEFAULT_STANDARDS_FILE)
    summary = {
        "agency": "ssa", "service": "retirement", "channel": "phone", "window": "five_minutes",
        "window_start": "2026-11-02T08:00:00.000Z", "window_end": "2026-11-02T08:05:00.000Z",
        "standard": "csat", "count": 30, "target": 0.8, "objective": None, "compliance": 0.5,
        "value": 0.5, "status": "breached",
    }  # fmt: skip
    standard = config.for_group(*GROUP)["csat"]
    state, events = step(None, summary, T0 + 0.25, AlertPolicy(for_seconds=0), standard)
    firing = '{"phase":"firing","since":1793606400.25,"recovering_since":null}'
    assert compact(state) == (
        f'{{"version":1,"last_at":1793606400.25,"alerts":{{"warning":{firing},"critical":{firing}}}}}'
    )
    assert [event["started_at"] for event in events] == ["2026-11-02T08:00:00.250Z"] * 2
