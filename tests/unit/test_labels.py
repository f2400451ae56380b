"""processors.labels.BoundedLabelValues: the first ``cap`` values pass, the rest fold to other."""

from __future__ import annotations

import pytest

from servicepulse.processors.labels import OTHER, BoundedLabelValues


def test_admits_up_to_cap_then_folds() -> None:
    guard = BoundedLabelValues(cap=3)
    assert [guard(v) for v in ("a", "b", "c")] == ["a", "b", "c"]
    assert len(guard) == 3
    assert guard("d") == OTHER == "other"
    assert guard("e") == "other"
    assert len(guard) == 3


def test_admitted_values_stay_admitted_after_cap() -> None:
    guard = BoundedLabelValues(cap=2)
    guard("a")
    guard("b")
    assert guard("z") == "other"
    assert guard("a") == "a"
    assert guard("b") == "b"
    assert guard("z") == "other"


def test_repeated_value_uses_one_slot() -> None:
    guard = BoundedLabelValues(cap=2)
    for _ in range(5):
        assert guard("a") == "a"
    assert len(guard) == 1
    assert guard("b") == "b"
    assert guard("c") == "other"


def test_default_cap_is_100() -> None:
    guard = BoundedLabelValues()
    assert guard.cap == 100
    values = [f"agency{i}" for i in range(100)]
    assert [guard(v) for v in values] == values
    assert guard("agency100") == "other"


def test_cap_of_one() -> None:
    guard = BoundedLabelValues(cap=1)
    assert guard("x") == "x"
    assert guard("y") == "other"


@pytest.mark.parametrize("cap", [0, -1])
def test_cap_below_one_raises(cap: int) -> None:
    with pytest.raises(ValueError, match="cap"):
        BoundedLabelValues(cap)
