"""Peer benchmarks: how each agency's service compares with the same service elsewhere.

Input is the latest window value per (agency, service, channel, standard), e.g. the one-day
csat share or p90 time to first response, already past the minimum sample (the caller drops
insufficient windows: ranking noise helps nobody).

Peer groups (``peer_by``):

* ``"service"``: the same service id at other agencies *in the same channel*, so phone is
  compared with phone (a web form and a counter visit are not the same experience);
* ``"channel"``: every agency/service in the same channel.

Percentile rank uses the mid-rank definition: ``100 * (worse + 0.5 * tied) / peers``, where
``tied`` counts the group itself, so a group alone in its peer group ranks 50 and ties share
a rank. "Worse" respects direction: for ``at_most`` standards (durations, abandonment,
run-around) a higher value is worse. ``gap_to_best_in_class`` is how far the value falls
short of the configured best-in-class target, in the standard's unit: positive = short of
it, zero or negative = at or beyond it.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from servicepulse.processors.standards import STANDARD_SPECS, Direction
from servicepulse.processors.timestamps import rfc3339

PeerBy = Literal["service", "channel"]
GroupKey = tuple[str, str, str, str]  # agency, service, channel, standard

# Standards defined outside standards.STANDARD_SPECS whose direction is still known.
EXTRA_DIRECTIONS: dict[str, Direction] = {"run_around_rate": "at_most"}


def default_directions() -> dict[str, Direction]:
    """Direction per standard name: the standards file's catalogue plus EXTRA_DIRECTIONS."""
    return {
        **{name: spec.direction for name, spec in STANDARD_SPECS.items()},
        **EXTRA_DIRECTIONS,
    }


@dataclass(frozen=True, slots=True)
class Benchmark:
    """One group's standing among its peers for one standard."""

    agency: str
    service: str
    channel: str
    standard: str
    direction: Direction
    value: float
    peer_by: PeerBy
    peer_group: str
    peer_count: int
    percentile_rank: float
    peer_median: float
    peer_best: float
    best_in_class: float | None
    gap_to_best_in_class: float | None


def _peer_key(agency: str, service: str, channel: str, standard: str, by: PeerBy) -> str:
    del agency  # peers are by definition other agencies (or services) too
    return f"{service}/{channel}/{standard}" if by == "service" else f"{channel}/{standard}"


def _better(a: float, b: float, direction: Direction) -> bool:
    return a < b if direction == "at_most" else a > b


def benchmarks(
    values: Mapping[GroupKey, float],
    *,
    peer_by: PeerBy = "service",
    best_in_class: Mapping[str, float] | None = None,
    directions: Mapping[str, Direction] | None = None,
) -> list[Benchmark]:
    """Benchmark every group in ``values``; standards with no known direction are skipped.

    Sorted by standard, peer group, then best rank first.
    """
    known = directions if directions is not None else default_directions()
    targets = best_in_class or {}
    peers: dict[str, list[tuple[GroupKey, float]]] = {}
    for key, value in values.items():
        if key[3] in known:
            peers.setdefault(_peer_key(*key, by=peer_by), []).append((key, float(value)))
    found: list[Benchmark] = []
    for group_name, members in peers.items():
        direction = known[members[0][0][3]]
        all_values = [value for _, value in members]
        best = min(all_values) if direction == "at_most" else max(all_values)
        median = statistics.median(all_values)
        for (agency, service, channel, standard), value in members:
            worse = sum(1 for other in all_values if _better(value, other, direction))
            tied = sum(1 for other in all_values if other == value)
            rank = 100.0 * (worse + 0.5 * tied) / len(all_values)
            target = targets.get(standard)
            gap: float | None = None
            if target is not None:
                gap = value - target if direction == "at_most" else target - value
            found.append(
                Benchmark(
                    agency=agency,
                    service=service,
                    channel=channel,
                    standard=standard,
                    direction=direction,
                    value=value,
                    peer_by=peer_by,
                    peer_group=group_name,
                    peer_count=len(all_values),
                    percentile_rank=round(rank, 6),
                    peer_median=median,
                    peer_best=best,
                    best_in_class=target,
                    gap_to_best_in_class=None if gap is None else round(gap, 12),
                )
            )
    return sorted(
        found,
        key=lambda b: (b.standard, b.peer_group, -b.percentile_rank, b.agency, b.service),
    )


def benchmark_messages(
    values: Mapping[GroupKey, float],
    *,
    window: str,
    as_of: float,
    peer_by: PeerBy = "service",
    best_in_class: Mapping[str, float] | None = None,
    directions: Mapping[str, Direction] | None = None,
) -> list[dict[str, Any]]:
    """The ``service.benchmarks`` messages (schema ``service-benchmark.v1``): one per group
    and standard, for window family ``window`` (e.g. ``one_day``) as of POSIX time
    ``as_of``."""
    stamp = rfc3339(as_of, "auto")
    messages: list[dict[str, Any]] = []
    for b in benchmarks(
        values, peer_by=peer_by, best_in_class=best_in_class, directions=directions
    ):
        message: dict[str, Any] = {
            "agency": b.agency,
            "service": b.service,
            "channel": b.channel,
            "standard": b.standard,
            "direction": b.direction,
            "window": window,
            "as_of": stamp,
            "value": b.value,
            "peer_by": b.peer_by,
            "peer_group": b.peer_group,
            "peer_count": b.peer_count,
            "percentile_rank": b.percentile_rank,
            "peer_median": b.peer_median,
            "peer_best": b.peer_best,
        }
        if b.best_in_class is not None:
            message["best_in_class"] = b.best_in_class
            message["gap_to_best_in_class"] = b.gap_to_best_in_class
        messages.append(message)
    return messages
