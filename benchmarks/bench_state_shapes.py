"""What the changelog shape check costs per restored record (processors.state_shapes).

Restore runs each table's check once per changelog record. The values here are built by the
processors the flows use: a window meta entry and a time-to-first-response pane with a sketch
after ``--observations`` observations, a case with a transfer and its first response, a journey
and contact history after ``--cases`` cases. Prints microseconds per check, best of 5.

Usage::

    .venv/bin/python benchmarks/bench_state_shapes.py [--observations 500] [--cases 20]
"""

from __future__ import annotations

import argparse
import json
import random
import timeit
from typing import Any

from servicepulse.processors.cases import Observation, apply_contact, apply_interaction
from servicepulse.processors.journeys import RunAroundRules, apply_journey_event
from servicepulse.processors.records import dumps
from servicepulse.processors.standards import load_standards
from servicepulse.processors.window_engine import WindowEngine
from servicepulse.schemas.models import InteractionEvent
from servicepulse.streams import topology
from servicepulse.streams.settings import DEFAULT_STANDARDS_FILE

T0 = 1_793_606_400.0  # 2026-11-02T08:00:00Z


def interaction(n: int, kind: str, case: str, minutes: float, **extra: Any) -> InteractionEvent:
    return InteractionEvent.model_validate({
        "event_id": f"e-{n}", "occurred_at": f"2026-11-02T08:{int(minutes) % 60:02d}:00Z",
        "agency": "ssa", "service": "retirement", "channel": "phone", "case_id": case,
        "customer_ref": "p-1", "kind": kind, **extra,
    })  # fmt: skip


def rows(observations: int, cases: int) -> list[tuple[str, topology.Table, str, Any]]:
    engine, store = WindowEngine(load_standards(DEFAULT_STANDARDS_FILE)), {}
    rng = random.Random(7)
    for offset in range(observations):
        obs = Observation("ssa", "retirement", "phone", "time_to_first_response",
                          T0 + offset, rng.expovariate(1 / 3600))  # fmt: skip
        engine.commit(store, engine.apply(store, obs, offset))
    meta_key = "m|ssa|retirement|phone|time_to_first_response"
    pane_key = next(key for key in store if key.startswith("p|"))
    case, journey, contacts, n = None, None, None, 0
    for c in range(cases):
        events = [interaction(n, "opened", f"c{c}", c), interaction(n + 1, "first_response",
                  f"c{c}", c + 1), interaction(n + 2, "transferred", f"c{c}", c + 2,
                  to_agency="irs")]  # fmt: skip
        n += 3
        case = None
        for event in events:
            case, _ = apply_interaction(case, event, 30)
            journey, _ = apply_journey_event(journey, event, RunAroundRules())
        contacts, _ = apply_contact(contacts, "p-1", "retirement", T0 + c * 60, 30,
                                    agency="ssa", channel="phone", case_id=f"c{c}")  # fmt: skip
    customer = {"journey": journey, "contacts": contacts, "p": 0}
    return [
        ("window meta", topology.WINDOW_PANES, meta_key, store[meta_key]),
        ("duration pane", topology.WINDOW_PANES, pane_key, store[pane_key]),
        ("case", topology.CASES, "c0", {**(case or {}), "p": 0}),
        (f"customer ({cases} cases)", topology.CUSTOMERS, "p-1", customer),
        ("seen event id", topology.SEEN_EVENT_IDS, "e-1", {"seen": T0, "p": 0}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=500)
    parser.add_argument("--cases", type=int, default=20)
    args = parser.parse_args()
    for name, table, key, value in rows(args.observations, args.cases):
        restored = json.loads(dumps(value))  # as the changelog gives it back
        assert table.shape(key, restored) is None, (name, table.shape(key, restored))
        number = 2000
        best = min(timeit.repeat(lambda t=table, k=key, v=restored: t.shape(k, v),
                                 number=number, repeat=5))  # fmt: skip
        size = len(dumps(value))
        print(f"{name:<22} {best / number * 1e6:8.1f} µs per record  ({size:,} bytes of JSON)")


if __name__ == "__main__":
    main()
