"""Public daily performance: accumulation, small-cell suppression, schema, nothing private."""

from __future__ import annotations

from typing import Any

from servicepulse.processors.transparency import (
    DayParts,
    day_group,
    fold_final,
    public_performance,
)
from servicepulse.schemas.contract import validator

T0 = 1_777_626_000.0  # 2026-05-01T09:00:00Z
DAY = "2026-05-01"


def final(
    standard: str, count: int, compliance: float | None, channel: str = "phone", **extra: Any
) -> dict[str, Any]:
    """A calendar-day window final as the window agent publishes it (the fields used here)."""
    return {"agency": "ssa", "service": "retirement", "channel": channel, "standard": standard,
            "count": count, "compliance": compliance, **extra}  # fmt: skip


def build(*finals: dict[str, Any]) -> dict[str, Any]:
    parts: DayParts | None = None
    for item in finals:
        parts = fold_final(parts, item)
    return {"ssa|retirement": day_group("ssa", "retirement", parts or {})}


def test_published_row() -> None:
    groups = build(
        final("csat", 8, 0.75, hits=6),
        final("csat", 4, 0.5, channel="web", hits=2),
        final("time_to_first_response", 12, 0.75),
    )
    (row,) = public_performance(DAY, groups)
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


def test_channels_add_up_and_a_repeated_final_replaces_its_part() -> None:
    groups = build(
        final("time_to_resolution", 10, 0.5),
        final("time_to_resolution", 20, 1.0, channel="web"),
        final("time_to_resolution", 10, 0.9),  # the phone part again: replaces, not adds
        final("csat", 10, 1.0, hits=10),
    )
    assert groups["ssa|retirement"]["durations"] == {"time_to_resolution": [30, 29]}
    (row,) = public_performance(DAY, groups)
    assert row["compliance"]["time_to_resolution"] == {"cases": 30, "within_target_share": 0.967}


def test_small_groups_are_marked_suppressed_without_values() -> None:
    (row,) = public_performance(DAY, build(final("csat", 9, 1.0, hits=9),
                                           final("time_to_first_response", 50, 1.0)))  # fmt: skip
    assert row == {
        "day": "2026-05-01",
        "agency": "ssa",
        "service": "retirement",
        "suppressed": True,
    }
    validator("public-performance.v1").validate(row)


def test_small_compliance_cells_are_left_out() -> None:
    groups = build(final("csat", 10, 1.0, hits=10), final("time_to_first_response", 3, 1.0))
    (row,) = public_performance(DAY, groups)
    assert row["compliance"] == {}
    assert public_performance(DAY, groups, min_responses=3)[0]["compliance"]


def test_other_standards_are_ignored_and_folding_is_pure() -> None:
    parts = fold_final(None, final("csat", 10, 0.8, hits=8))
    assert fold_final(parts, final("abandonment_rate", 40, 0.9)) == parts
    before = dict(parts)
    fold_final(parts, final("csat", 3, 0.0, channel="web", hits=0))
    assert parts == before
    assert fold_final(None, final("time_to_first_response", 4, None)) == {
        "phone|time_to_first_response": [4, 0]
    }


def test_rows_carry_nothing_private() -> None:
    groups = build(final("csat", 20, 1.0, hits=20), final("time_to_first_response", 20, 1.0))
    groups["irs|refunds"] = day_group("irs", "refunds", {"web|csat": [1, 1]})
    rows = public_performance(DAY, groups)
    assert [(r["agency"], r["suppressed"]) for r in rows] == [("irs", True), ("ssa", False)]
    allowed = {"day", "agency", "service", "suppressed", "responses", "satisfaction_share",
               "compliance"}  # fmt: skip
    for row in rows:
        assert set(row) <= allowed
        validator("public-performance.v1").validate(row)


def test_schema_rejects_values_on_a_suppressed_row() -> None:
    row = {"day": "2026-05-01", "agency": "a", "service": "s", "suppressed": True, "responses": 3}
    assert not validator("public-performance.v1").is_valid(row)
