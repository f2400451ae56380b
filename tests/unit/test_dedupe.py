"""processors.dedupe: the duplicate horizon and per-partition first-seen expiry."""

from __future__ import annotations

from servicepulse.processors.dedupe import ExpiryIndex, is_duplicate


def test_never_seen_is_not_duplicate() -> None:
    assert is_duplicate(None, now=1000.0, horizon_seconds=60.0) is False


def test_duplicate_inside_horizon() -> None:
    assert is_duplicate(1000.0, now=1000.0, horizon_seconds=60.0) is True
    assert is_duplicate(1000.0, now=1059.999, horizon_seconds=60.0) is True


def test_not_duplicate_at_or_beyond_horizon() -> None:
    # Exactly at the horizon the id has expired (ExpiryIndex.expired uses <= cutoff too).
    assert is_duplicate(1000.0, now=1060.0, horizon_seconds=60.0) is False
    assert is_duplicate(1000.0, now=1060.001, horizon_seconds=60.0) is False


def test_expired_boundary_agrees_with_is_duplicate() -> None:
    index = ExpiryIndex(horizon_seconds=60.0)
    index.note(0, "e1", 1000.0)
    assert index.expired(0, now=1059.999) == []
    assert is_duplicate(1000.0, 1059.999, 60.0)
    assert index.expired(0, now=1060.0) == [("e1", 1000.0)]
    assert not is_duplicate(1000.0, 1060.0, 60.0)


def test_expired_pops_oldest_first_and_only_old_ones() -> None:
    index = ExpiryIndex(horizon_seconds=10.0)
    index.note(0, "a", 100.0)
    index.note(0, "b", 101.0)
    index.note(0, "c", 105.0)
    assert index.size(0) == 3
    assert index.expired(0, now=111.5) == [("a", 100.0), ("b", 101.0)]
    assert index.size(0) == 1
    assert index.expired(0, now=111.5) == []
    assert index.expired(0, now=115.0) == [("c", 105.0)]
    assert index.size(0) == 0


def test_partitions_are_isolated() -> None:
    index = ExpiryIndex(horizon_seconds=10.0)
    index.note(0, "a", 100.0)
    index.note(1, "b", 100.0)
    index.note(1, "c", 200.0)
    assert index.expired(0, now=150.0) == [("a", 100.0)]
    assert index.size(1) == 2
    assert index.expired(1, now=150.0) == [("b", 100.0)]
    assert index.size(0) == 0 and index.size(1) == 1


def test_unknown_partition_is_empty() -> None:
    index = ExpiryIndex(horizon_seconds=10.0)
    assert not index.has(7)
    assert index.size(7) == 0
    assert index.expired(7, now=1e9) == []
    assert not index.has(7)


def test_rebuild_sorts_unordered_entries() -> None:
    index = ExpiryIndex(horizon_seconds=10.0)
    index.rebuild(3, [("late", 300.0), ("early", 100.0), ("mid", 200.0)])
    assert index.has(3)
    assert index.size(3) == 3
    assert index.expired(3, now=250.0) == [("early", 100.0), ("mid", 200.0)]
    assert index.expired(3, now=1000.0) == [("late", 300.0)]


def test_rebuild_replaces_existing_queue() -> None:
    index = ExpiryIndex(horizon_seconds=10.0)
    index.note(0, "old", 1.0)
    index.rebuild(0, [("new", 50.0)])
    assert index.size(0) == 1
    assert index.expired(0, now=1000.0) == [("new", 50.0)]


def test_rebuild_from_empty_marks_partition_known() -> None:
    index = ExpiryIndex(horizon_seconds=10.0)
    index.rebuild(2, [])
    assert index.has(2)
    assert index.size(2) == 0


def test_note_after_rebuild_appends() -> None:
    index = ExpiryIndex(horizon_seconds=10.0)
    index.rebuild(0, [("b", 20.0), ("a", 10.0)])
    index.note(0, "c", 30.0)
    assert index.expired(0, now=100.0) == [("a", 10.0), ("b", 20.0), ("c", 30.0)]


def test_forget_drops_only_that_partition() -> None:
    index = ExpiryIndex(horizon_seconds=10.0)
    index.note(0, "a", 1.0)
    index.note(1, "b", 1.0)
    index.forget(0)
    assert not index.has(0)
    assert index.size(0) == 0
    assert index.expired(0, now=1000.0) == []
    assert index.has(1) and index.size(1) == 1
    index.forget(0)  # forgetting twice is harmless
    index.forget(99)
