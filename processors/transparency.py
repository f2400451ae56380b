"""Public-safe daily performance: what an agency can publish on its open-data page.

The stream edge keeps one row per agency, service and UTC day (a plain dict in a Faust table)
and folds in each calendar-day window final of that day with :func:`fold_final`;
:func:`day_group` sums the channels, and :func:`public_performance` turns that into
``public.performance`` rows (schema ``public-performance.v1``), one per agency/service.

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
from typing import Any

DayParts = dict[str, list[int]]  # "channel|standard" -> [count, good]

DEFAULT_MIN_RESPONSES = 10
DURATION_STANDARDS = ("time_to_first_response", "time_to_resolution")
PUBLIC_STANDARDS = ("csat", *DURATION_STANDARDS)
_DECIMALS = 3


def fold_final(parts: Mapping[str, list[int]] | None, final: Mapping[str, Any]) -> DayParts:
    """A day's parts with one calendar-day window final in (a new dict).

    One part per channel and standard: its count and how many met the target (csat: answered
    4–5). Standards the public feed does not show are ignored.
    """
    folded = dict(parts or {})
    if final["standard"] not in PUBLIC_STANDARDS:
        return folded
    good = round((final["compliance"] or 0.0) * final["count"])
    if final["standard"] == "csat":
        good = int(final.get("hits", good))
    folded[f"{final['channel']}|{final['standard']}"] = [int(final["count"]), good]
    return folded


def day_group(agency: str, service: str, parts: Mapping[str, list[int]]) -> dict[str, Any]:
    """The channels of a day summed: what :func:`public_performance` publishes from."""
    group: dict[str, Any] = {
        "agency": agency, "service": service, "responses": 0, "satisfied": 0, "durations": {},
    }  # fmt: skip
    for part, (count, good) in parts.items():
        standard = part.rsplit("|", 1)[1]
        if standard == "csat":
            group["responses"] += count
            group["satisfied"] += good
        elif standard in DURATION_STANDARDS:
            measured, within = group["durations"].get(standard, [0, 0])
            group["durations"][standard] = [measured + count, within + good]
    return group


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
