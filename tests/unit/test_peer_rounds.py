"""Peer rankings wait for the watermark: one round per window end and standard."""

from __future__ import annotations

from typing import Any

from servicepulse.processors import peer_rounds
from servicepulse.processors.records import epoch_of
from tests.unit.changelog_cuts import RecordingStore
from tests.unit.changelog_cuts import restored as restored_from


def final(agency: str, end: str, compliance: float | None, standard: str = "csat"
          ) -> dict[str, Any]:  # fmt: skip
    return {"agency": agency, "service": "refunds", "channel": "web", "standard": standard,
            "window_end": end, "compliance": compliance}  # fmt: skip


E1, E2 = "2026-11-02T09:00:00.000Z", "2026-11-02T09:05:00.000Z"


def test_a_window_end_is_ranked_once_the_watermark_reaches_it() -> None:
    store: dict[str, Any] = {}
    peer_rounds.hold(store, final("irs", E1, 0.9))
    peer_rounds.hold(store, final("ssa", E2, 0.5))  # a faster partition, already further on
    assert peer_rounds.due_ends(store, None) == []
    assert peer_rounds.due_ends(store, epoch_of(E1) - 1) == []
    peer_rounds.hold(store, final("ssa", E1, 0.7))  # the slower partition's final, later
    assert peer_rounds.due_ends(store, epoch_of(E1)) == [E1]
    assert peer_rounds.rounds(store, E1) == {
        "csat": {("irs", "refunds", "web", "csat"): 0.9, ("ssa", "refunds", "web", "csat"): 0.7}
    }
    peer_rounds.settle(store, E1)
    assert peer_rounds.due_ends(store, epoch_of(E2) + 60) == [E2]
    # irs had no final at E2: its latest (E1) value still counts among the peers.
    assert peer_rounds.rounds(store, E2) == {
        "csat": {("irs", "refunds", "web", "csat"): 0.9, ("ssa", "refunds", "web", "csat"): 0.5}
    }
    peer_rounds.settle(store, E2)
    assert peer_rounds.due_ends(store, epoch_of(E2) + 3600) == []


def test_insufficient_data_is_not_held_and_standards_rank_apart() -> None:
    store: dict[str, Any] = {}
    peer_rounds.hold(store, final("irs", E1, None))
    assert peer_rounds.due_ends(store, epoch_of(E1)) == []
    peer_rounds.hold(store, final("irs", E1, 0.9))
    peer_rounds.hold(store, final("irs", E1, 0.2, standard="abandonment_rate"))
    assert set(peer_rounds.rounds(store, E1)) == {"csat", "abandonment_rate"}


def test_every_entry_written_passes_the_restore_check() -> None:
    """Held finals are restored from the changelog after a restart: each entry must pass the
    table's shape check, or the round would lose the peers held so far (it did: the check
    knew only the agency|service|channel|standard keys)."""
    from servicepulse.processors.state_shapes import benchmark_latest

    store: dict[str, Any] = {}
    for n in range(20):
        peer_rounds.hold(store, final(f"agency{n}", E1, n / 20))
    peer_rounds.settle(store, E1)
    for n in range(3):
        peer_rounds.hold(store, final(f"agency{n}", E2, 0.5, standard="abandonment_rate"))
    assert any(key.startswith("pending|") for key in store)
    for key, value in store.items():
        assert benchmark_latest(key, value) is None, (key, value)
    assert benchmark_latest("pending|" + E2, {"csat": {"a|b|web": "high"}}) is not None
    restored = dict(store)  # what a restore rebuilds, entry by entry
    assert peer_rounds.due_ends(restored, epoch_of(E2)) == [E2]
    assert len(peer_rounds.rounds(restored, E2)["abandonment_rate"]) == 3


def test_a_step_s_finals_are_held_with_one_write_per_window_end() -> None:
    writes: list[str] = []

    class Recording(dict[str, Any]):
        def __setitem__(self, key: str, value: Any) -> None:
            writes.append(key)
            super().__setitem__(key, value)

    store = Recording()
    peer_rounds.hold(store, final("irs", E1, 0.9))
    peer_rounds.hold(store, final("ssa", E1, 0.7), final("va", E1, None), final("va", E2, 0.4),
                     final("irs", E1, 0.5, standard="abandonment_rate"))  # fmt: skip
    assert writes == ["pending|" + E1, "pending|" + E1, "pending|" + E2]
    assert peer_rounds.rounds(store, E1) == {
        "csat": {("irs", "refunds", "web", "csat"): 0.9, ("ssa", "refunds", "web", "csat"): 0.7},
        "abandonment_rate": {("irs", "refunds", "web", "abandonment_rate"): 0.5},
    }


def test_a_stop_anywhere_in_a_settle_ranks_the_same_round_again_or_the_next_one_right() -> None:
    """The changelog keeps a prefix of the writes a settle makes: from any prefix, the restart
    either ranks the same end again with the same values or has it settled, and the next end's
    round is the same as without a stop."""

    store: dict[str, Any] = {}
    peer_rounds.hold(store, final("irs", E1, 0.9), final("ssa", E1, 0.7), final("va", E1, 0.2))
    first = peer_rounds.rounds(store, E1)
    recorded = RecordingStore(store)
    peer_rounds.settle(recorded, E1)
    peer_rounds.hold(recorded, final("ssa", E2, 0.5))
    second = peer_rounds.rounds(recorded, E2)
    settle_writes = len(recorded.log) - 1
    for cut in range(settle_writes + 1):
        restored = restored_from(store, recorded.log[:cut])
        if peer_rounds.due_ends(restored, epoch_of(E1)) == [E1]:
            assert peer_rounds.rounds(restored, E1) == first, cut
            peer_rounds.settle(restored, E1)
        peer_rounds.hold(restored, final("ssa", E2, 0.5))
        assert peer_rounds.rounds(restored, E2) == second, cut
