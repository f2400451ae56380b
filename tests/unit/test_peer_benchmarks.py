"""Peer benchmarks: percentile ranks that respect direction, peer grouping, best-in-class gaps."""

from __future__ import annotations

import pytest

from servicepulse.processors.peer_benchmarks import Benchmark, benchmark_messages, benchmarks
from servicepulse.schemas.contract import validator

AS_OF = 1_777_626_000.0  # 2026-05-01T09:00:00Z

VALUES = {
    ("ssa", "retirement", "phone", "csat"): 0.90,
    ("dol", "retirement", "phone", "csat"): 0.70,
    ("opm", "retirement", "phone", "csat"): 0.80,
    ("ssa", "retirement", "phone", "time_to_first_response"): 600.0,
    ("dol", "retirement", "phone", "time_to_first_response"): 1800.0,
    ("opm", "retirement", "phone", "time_to_first_response"): 300.0,
    ("ssa", "retirement", "web", "csat"): 0.50,  # other channel: other peer group
    ("irs", "refunds", "phone", "csat"): 0.60,
}


def by_key(found: list[Benchmark]) -> dict[tuple[str, str, str, str], Benchmark]:
    return {(b.agency, b.service, b.channel, b.standard): b for b in found}


def test_higher_is_better_for_at_least_standards() -> None:
    found = by_key(benchmarks(VALUES))
    ranks = [
        found[(a, "retirement", "phone", "csat")].percentile_rank for a in ("ssa", "opm", "dol")
    ]
    assert ranks == pytest.approx([100 * 2.5 / 3, 100 * 1.5 / 3, 100 * 0.5 / 3])
    ssa = found[("ssa", "retirement", "phone", "csat")]
    assert ssa.peer_count == 3 and ssa.peer_best == 0.90 and ssa.peer_median == 0.80


def test_lower_is_better_for_at_most_standards() -> None:
    found = by_key(benchmarks(VALUES))
    opm = found[("opm", "retirement", "phone", "time_to_first_response")]
    dol = found[("dol", "retirement", "phone", "time_to_first_response")]
    assert opm.percentile_rank > dol.percentile_rank
    assert opm.peer_best == 300.0 and opm.direction == "at_most"


def test_alone_ranks_fifty_and_ties_share() -> None:
    found = by_key(benchmarks(VALUES))
    assert found[("ssa", "retirement", "web", "csat")].percentile_rank == 50.0
    tied = benchmarks({("a", "s", "phone", "csat"): 0.8, ("b", "s", "phone", "csat"): 0.8})
    assert [b.percentile_rank for b in tied] == [50.0, 50.0]


def test_peer_by_channel_pools_services() -> None:
    found = by_key(benchmarks(VALUES, peer_by="channel"))
    irs = found[("irs", "refunds", "phone", "csat")]
    assert irs.peer_count == 4 and irs.peer_group == "phone/csat"


def test_best_in_class_gap_is_direction_aware() -> None:
    targets = {"csat": 0.85, "time_to_first_response": 900.0}
    found = by_key(benchmarks(VALUES, best_in_class=targets))
    assert found[("dol", "retirement", "phone", "csat")].gap_to_best_in_class == pytest.approx(0.15)
    assert found[("ssa", "retirement", "phone", "csat")].gap_to_best_in_class == pytest.approx(
        -0.05
    )
    slow = found[("dol", "retirement", "phone", "time_to_first_response")]
    assert slow.gap_to_best_in_class == pytest.approx(900.0)


def test_unknown_standards_are_skipped_and_run_around_is_known() -> None:
    found = benchmarks(
        {("a", "s", "web", "mystery"): 1.0, ("a", "s", "web", "run_around_rate"): 0.2}
    )
    assert [(b.standard, b.direction) for b in found] == [("run_around_rate", "at_most")]


def test_messages_match_the_schema() -> None:
    check = validator("service-benchmark.v1")
    messages = benchmark_messages(
        VALUES, window="one_day", as_of=AS_OF, best_in_class={"csat": 0.85}
    )
    assert len(messages) == len(VALUES)
    for message in messages:
        check.validate(message)
    assert messages[0]["as_of"] == "2026-05-01T09:00:00Z"
    assert sum("best_in_class" in m for m in messages) == 5
