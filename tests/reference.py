"""An independent batch recomputation of service-standard windows, in plain Python.

It shares no code with processors.cases, processors.windows or processors.window_engine: the
event log is replayed into per-case facts, observations are derived from those, and every
window is computed directly from its observations with exact quantiles. Tests compare the
streaming finals with it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from servicepulse.processors.sentiment_label import label_for_score, label_score

RATE_HIT_IS_GOOD = {"csat", "self_service_share", "trust", "satisfaction", "effectiveness",
                    "ease", "efficiency", "transparency", "employee_helpfulness"}  # fmt: skip
DRIVERS = ("trust", "satisfaction", "effectiveness", "ease", "efficiency", "transparency",
           "employee_helpfulness")  # fmt: skip


@dataclass(frozen=True)
class RefObservation:
    group: tuple[str, str, str]
    standard: str
    at: float
    value: float
    # The latest event time of the log before the event this was derived from: a one-stream
    # source's event-time progress when the observation was made.
    seen: float = -math.inf


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def observations_from_log(events: list[tuple[str, dict[str, Any]]], repeat_days: int
                          ) -> list[RefObservation]:  # fmt: skip
    """Observations in log order from ("feedback" | "interaction", event) pairs.

    Redeliveries (an event_id already seen) are ignored. Per case: durations from `opened`,
    attributed to the holder (opening group plus transfers up to that time); rates at close.
    """
    seen: set[str] = set()
    latest = -math.inf
    out: list[RefObservation] = []
    cases: dict[str, dict[str, Any]] = {}
    contacts: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
    for kind, event in events:
        at = epoch(event["occurred_at"])
        before, latest = latest, max(latest, at)
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        start = len(out)
        group = (event["agency"], event["service"], event["channel"])
        if kind == "feedback":
            if "csat" in event:
                out.append(RefObservation(group, "csat", at, float(event["csat"] >= 4)))
            for driver in DRIVERS:
                if driver in event.get("drivers", {}):
                    hit = float(event["drivers"][driver] >= 4)
                    out.append(RefObservation(group, driver, at, hit))
            comment = event.get("comment")
            if comment and comment.strip():
                # The label method is the definition of "negative", not window logic to re-derive.
                negative = float(label_for_score(label_score(comment)) == "negative")
                out.append(RefObservation(group, "negative_sentiment_share", at, negative))
            out[start:] = [replace(obs, seen=before) for obs in out[start:]]
            continue
        fresh = {"opened": None, "first": None, "transfers": [], "closed": None,
                 "self_service": False, "done": set()}  # fmt: skip
        case = cases.setdefault(event["case_id"], fresh)
        step = event["kind"]
        if step == "opened":
            case["opened"] = (at, group)
            ref = event.get("customer_ref")
            if ref is not None:
                earlier = [t for t, a, s in contacts[ref] if (a, s) == group[:2]]
                window = repeat_days * 86_400
                hit = any(at - window <= t <= at for t in earlier)
                contacts[ref].append((at, group[0], group[1]))
                out.append(RefObservation(group, "repeat_contact_rate", at, float(hit)))
        elif step == "first_response" and case["first"] is None:
            case["first"] = at
        elif step == "transferred":
            case["transfers"].append((at, event.get("to_agency"), event.get("to_service")))
        elif step in ("resolved", "abandoned", "self_service_completed") and not case["closed"]:
            case["closed"] = (at, step)
            case["self_service"] = step == "self_service_completed"
        out.extend(_case_observations(case))
        out[start:] = [replace(obs, seen=before) for obs in out[start:]]
    return out


def _holder(case: dict[str, Any], t: float) -> tuple[str, str, str]:
    _, (agency, service, channel) = case["opened"]
    for at, to_agency, to_service in sorted(case["transfers"], key=lambda tr: tr[0]):
        if at <= t:
            agency, service = to_agency or agency, to_service or service
    return agency, service, channel


def _case_observations(case: dict[str, Any]) -> list[RefObservation]:
    if case["opened"] is None:
        return []
    opened_at, opening_group = case["opened"]
    found = []
    done = case["done"]
    if case["first"] is not None and "ttfr" not in done:
        done.add("ttfr")
        t = case["first"]
        found.append(RefObservation(_holder(case, t), "time_to_first_response", t,
                                    max(0.0, t - opened_at)))  # fmt: skip
    if case["closed"] is not None and "closed" not in done:
        done.add("closed")
        t, step = case["closed"]
        holder = _holder(case, t)
        if step != "abandoned":
            found.append(RefObservation(holder, "time_to_resolution", t, max(0.0, t - opened_at)))
        found.append(RefObservation(holder, "abandonment_rate", t, float(step == "abandoned")))
        found.append(RefObservation(holder, "self_service_share", t,
                                    float(case["self_service"])))  # fmt: skip
        found.append(RefObservation(opening_group, "transfer_rate", t,
                                    float(bool(case["transfers"]))))  # fmt: skip
    return found


def final_windows(
    observations: list[RefObservation],
    standards: dict[tuple[str, str, str], dict[str, dict[str, Any]]],
    windows: dict[str, tuple[int, int]],
    grace: float,
) -> dict[tuple[str, str, str, str, str, int], dict[str, Any]]:
    """Final windows keyed by (agency, service, channel, standard, window name, start).

    `standards[group][name]` = {"kind", "target", "objective", "direction", "minimum_sample"}.
    Event time is the log's, as one source would see it: an observation more than `grace`
    behind the latest event time before its event counts nowhere, and a window is final when
    the latest event time of the whole log is at least `grace` past its end.
    """
    kept, latest = on_time(observations, standards, grace, windows)
    out = {}
    for (group, name), items in kept.items():
        standard = standards[group][name]
        for window_name, (size, step) in windows.items():
            by_start: dict[int, list[float]] = defaultdict(list)
            for obs in items:
                first = (math.floor(obs.at) - size) // step + 1
                for k in range(first, math.floor(obs.at) // step + 1):
                    if k * step <= obs.at < k * step + size:
                        by_start[k * step].append(obs.value)
            for start, values in by_start.items():
                if start + size + grace <= latest:
                    out[(*group, name, window_name, start)] = summarise(values, standard)
    return out


def on_time(
    observations: list[RefObservation],
    standards: dict[tuple[str, str, str], dict[str, dict[str, Any]]],
    grace: float,
    windows: dict[str, tuple[int, int]],
) -> tuple[dict[tuple[Any, str], list[RefObservation]], float]:
    """Observations with a standard that are not late, per (group, standard), and the latest
    event time seen. Late: the earliest-ending window holding it (of any family) had ended
    `grace` before the latest event time seen before it, so it was final already."""
    latest = max((max(obs.at, obs.seen) for obs in observations), default=-math.inf)
    kept: dict[tuple[Any, str], list[RefObservation]] = defaultdict(list)
    for obs in observations:
        first_end = min(
            ((math.floor(obs.at) - size) // step + 1) * step + size
            for size, step in windows.values()
        )
        if obs.standard in standards.get(obs.group, {}) and first_end > obs.seen - grace:
            kept[(obs.group, obs.standard)].append(obs)
    return kept, latest


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def summarise(values: list[float], standard: dict[str, Any]) -> dict[str, Any]:
    count = len(values)
    if standard["kind"] == "duration":
        compliance = sum(v <= standard["target"] for v in values) / count
        value = exact_quantile(values, standard["objective"])
        measured = compliance
        bound = standard["objective"]
        direction = "at_least"
    else:
        hits = sum(v >= 0.5 for v in values) / count
        value = hits
        compliance = hits if standard["direction"] == "at_least" else 1 - hits
        measured = hits
        bound = standard["target"]
        direction = standard["direction"]
    margin = standard["at_risk_margin"]
    if count < standard["minimum_sample"]:
        status = "insufficient_data"
    elif direction == "at_least":
        at_risk_below = min(bound * (1 + margin), 1.0)
        status = ("breached" if measured < bound
                  else "at_risk" if measured < at_risk_below else "met")  # fmt: skip
    else:
        status = ("breached" if measured > bound
                  else "at_risk" if measured > bound * (1 - margin) else "met")  # fmt: skip
    return {"count": count, "compliance": compliance, "value": value, "status": status}
