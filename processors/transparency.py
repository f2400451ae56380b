"""Public-safe daily performance: what an agency can publish on its open-data page.

The stream edge keeps one day state per UTC day (a plain dict in a Faust table) and folds in
every observation with :func:`add_to_day`; :func:`public_performance` turns a finished day
into ``public.performance`` rows (schema ``public-performance.v1``), one per agency/service.

What a row holds, and what it never holds:

* satisfaction: share of csat answers scoring 4–5 (the csat observation is 1.0 for those);
* compliance: per duration standard (time to first response / resolution), the share of
  cases handled within the target the standards file sets for that group;
* no free text, no customer references, no case ids, no channel split (channel would cut the
  counts small enough to single out people).

Small-cell suppression: a row whose day has fewer than ``min_responses`` csat answers is
*kept but marked* ``"suppressed": true`` with no values and no counts, so readers can tell
"too few responses to publish" from "no service that day" without learning how few. Within a
published row a compliance figure with fewer than ``min_responses`` measured cases is left
out. Shares are rounded to three decimals.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from processors.cases import Observation

DayState = dict[str, Any]

DEFAULT_MIN_RESPONSES = 10
DURATION_STANDARDS = ("time_to_first_response", "time_to_resolution")
_DECIMALS = 3


def day_of(at: float) -> str:
    """The UTC calendar day (``YYYY-MM-DD``) an event time belongs to."""
    return datetime.fromtimestamp(at, UTC).date().isoformat()


def new_day(day: str) -> DayState:
    """An empty day state."""
    return {"day": day, "groups": {}}


def add_to_day(
    state: DayState | None, observation: Observation, *, target_seconds: float | None = None
) -> DayState:
    """Fold one observation into its day's state (None: start the day of ``observation.at``).

    ``target_seconds`` is the group's target for duration standards (from the standards file);
    a duration observation without one is not counted toward compliance. Observations of
    other standards than csat and the duration standards are ignored. Returns a new dict.
    """
    day = day_of(observation.at)
    current = state if state is not None else new_day(day)
    if current["day"] != day:
        raise ValueError(f"observation of {day} added to the state of {current['day']}")
    counted = observation.standard == "csat" or (
        observation.standard in DURATION_STANDARDS and target_seconds is not None
    )
    if not counted:
        return current
    key = f"{observation.agency}/{observation.service}"
    groups = dict(current["groups"])
    group = dict(
        groups.get(key)
        or {
            "agency": observation.agency,
            "service": observation.service,
            "responses": 0,
            "satisfied": 0,
            "durations": {},
        }
    )
    if observation.standard == "csat":
        group["responses"] += 1
        group["satisfied"] += 1 if observation.value >= 1.0 else 0
    elif target_seconds is not None:
        durations = dict(group["durations"])
        measured, within = durations.get(observation.standard, [0, 0])
        met = observation.value <= target_seconds
        durations[observation.standard] = [measured + 1, within + (1 if met else 0)]
        group["durations"] = durations
    groups[key] = group
    return {"day": day, "groups": groups}


def public_performance(
    day: str, groups: Mapping[str, Any], min_responses: int = DEFAULT_MIN_RESPONSES
) -> list[dict[str, Any]]:
    """``public.performance`` rows for ``day`` from a day state's ``groups``, sorted by
    agency and service."""
    if min_responses < 1:
        raise ValueError("min_responses must be at least 1")
    rows: list[dict[str, Any]] = []
    for group in sorted(groups.values(), key=lambda g: (g["agency"], g["service"])):
        row: dict[str, Any] = {"day": day, "agency": group["agency"], "service": group["service"]}
        responses = int(group["responses"])
        if responses < min_responses:
            row["suppressed"] = True
            rows.append(row)
            continue
        compliance: dict[str, Any] = {}
        for standard, (measured, within) in sorted(group["durations"].items()):
            if measured >= min_responses:
                compliance[standard] = {
                    "cases": measured,
                    "within_target_share": round(within / measured, _DECIMALS),
                }
        row.update(
            {
                "suppressed": False,
                "responses": responses,
                "satisfaction_share": round(group["satisfied"] / responses, _DECIMALS),
                "compliance": compliance,
            }
        )
        rows.append(row)
    return rows
