"""WindowEngine bookkeeping: repeats by offset and by origin, meta written last, expiry."""

from __future__ import annotations

from typing import Any

import pytest

from servicepulse.processors.cases import Observation
from servicepulse.processors.standards import StandardsConfig, load_standards
from servicepulse.processors.throttle import UpdateThrottle
from servicepulse.processors.watermarks import Watermark
from servicepulse.processors.window_engine import TRACKER_WRITE_S, Origin, WindowEngine
from servicepulse.streams.settings import DEFAULT_STANDARDS_FILE
from tests.unit.changelog_cuts import RecordingStore
from tests.unit.changelog_cuts import restored as restored_from

T0 = 1_793_606_400.0  # 2026-11-02T08:00:00Z
NOW = 1_900_000_000.0  # wall clock


@pytest.fixture(scope="module")
def config() -> StandardsConfig:
    return load_standards(DEFAULT_STANDARDS_FILE)


def csat(at: float, hit: bool = True) -> Observation:
    return Observation("ssa", "retirement", "phone", "csat", at, 1.0 if hit else 0.0)


def count_in_pane(store: dict[str, Any], at: float) -> int:
    start = int(at) // 300 * 300
    return int(store[f"p|ssa|retirement|phone|csat|300:{start}"]["agg"]["count"])


def apply(engine: WindowEngine, store: dict[str, Any], obs: Observation, offset: int,
          origin: Origin | None = None) -> Any:  # fmt: skip
    applied = engine.apply(store, obs, offset, origin)
    engine.commit(store, applied)
    return applied


def test_reread_offset_is_a_repeat(config: StandardsConfig) -> None:
    engine, store = WindowEngine(config), {}
    apply(engine, store, csat(T0), 5)
    assert apply(engine, store, csat(T0), 5).duplicate
    assert count_in_pane(store, T0) == 1


def test_upstream_re_emission_is_a_repeat_by_origin(config: StandardsConfig) -> None:
    engine, store = WindowEngine(config), {}
    apply(engine, store, csat(T0), 1, Origin("in:0", 40))
    # The upstream agent restarted and emitted the same observation again (a new offset here).
    assert apply(engine, store, csat(T0), 2, Origin("in:0", 40)).duplicate
    assert not apply(engine, store, csat(T0 + 1), 3, Origin("in:0", 41)).duplicate
    assert not apply(engine, store, csat(T0 + 2), 4, Origin("in:1", 7)).duplicate
    assert count_in_pane(store, T0) == 3


def test_the_meta_is_written_only_when_its_pane_list_changes(config: StandardsConfig) -> None:
    engine, store = WindowEngine(config), {}
    assert apply(engine, store, csat(T0), 1, Origin("in:0", 40)).meta is not None  # new panes
    assert apply(engine, store, csat(T0 + 10), 2, Origin("in:0", 41)).meta is None
    assert apply(engine, store, csat(T0 + 300), 3, Origin("in:0", 42)).meta is not None
    # A repeat after a restart: the meta's offsets are older, the panes know it.
    assert store["m|ssa|retirement|phone|csat"]["origins"] == {"in:0": 42}
    assert apply(engine, store, csat(T0 + 10), 9, Origin("in:0", 41)).duplicate
    assert count_in_pane(store, T0) == 2


def test_a_repeat_of_a_cut_short_observation_fills_only_the_panes_that_missed_it(
    config: StandardsConfig,
) -> None:
    """A stop after the observation's first pane write left its other pane (and its meta)
    unwritten: the upstream repeat counts it there, once, and not again in the first."""
    engine, store = WindowEngine(config), {}
    apply(engine, store, csat(T0), 1, Origin("in:0", 40))
    recording = RecordingStore(store)
    engine.commit(recording, engine.apply(recording, csat(T0 + 10), 2, Origin("in:0", 41)))
    first, second = [key for key, _ in recording.log[:2]]
    assert first.startswith("p|") and second.startswith("p|")
    restored = dict(store)  # what the first write left on the broker
    restored[first] = recording[first]
    assert apply(engine, restored, csat(T0 + 10), 7, Origin("in:0", 41)).duplicate is False
    assert restored[first]["agg"]["count"] == 2
    assert restored[second]["agg"]["count"] == 2
    assert apply(engine, restored, csat(T0 + 10), 8, Origin("in:0", 41)).duplicate


def test_meta_is_written_only_by_commit(config: StandardsConfig) -> None:
    engine, store = WindowEngine(config), {}
    applied = engine.apply(store, csat(T0), 1)
    assert "m|ssa|retirement|phone|csat" not in store  # a stop here re-applies on restart
    # Re-applying after such a stop does not count twice: the pane remembers the offset.
    engine.commit(store, engine.apply(store, csat(T0), 1))
    assert count_in_pane(store, T0) == 1
    assert applied.meta is not None and store["m|ssa|retirement|phone|csat"]["off"] == 1


def advance(engine: WindowEngine, store: dict[str, Any], watermark: float | None,
            channel: str = "upstream:0", now: float = NOW, partition: int = 0,
            idle: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    advanced = engine.advance(store, partition, channel, watermark, idle, now)
    engine.commit(store, advanced)
    return advanced.finals


def test_late_observation_is_reported_not_counted(config: StandardsConfig) -> None:
    engine, store = WindowEngine(config, grace_s=600), {}
    apply(engine, store, csat(T0 + 3600), 1)
    advance(engine, store, T0 + 3000)
    late = apply(engine, store, csat(T0), 2)
    assert late.late and late.watermark == T0 + 3000
    assert f"p|ssa|retirement|phone|csat|300:{int(T0)}" not in store
    assert not apply(engine, store, csat(T0 + 3000), 3).late  # at the watermark: on time


def test_finals_once_and_panes_expire(config: StandardsConfig) -> None:
    engine, store = WindowEngine(config, grace_s=600), {}
    finals = []
    for n in range(0, 3 * 86_400, 600):  # three days, an observation every 10 minutes
        apply(engine, store, csat(T0 + n), n // 600 + 1)
        finals += advance(engine, store, T0 + n - 600)
    keys = [(f["window"], f["window_start"]) for f in finals]
    assert len(keys) == len(set(keys))
    assert {f["window"] for f in finals} == {"five_minutes", "one_hour", "one_day"}
    # Only panes a still-open window can need are kept: about a day's worth, not three.
    five_minute_panes = [k for k in store if k.startswith("p|") and "|300:" in k]
    assert len(five_minute_panes) < 86_400 / 300 + 20


def test_updates_only_for_the_newest_window_of_each_family(config: StandardsConfig) -> None:
    engine, store = WindowEngine(config), {}
    touched = apply(engine, store, csat(T0 + 10), 1).touched
    assert [(spec.name, start) for _, _, spec, start in touched] == [
        ("five_minutes", int(T0)), ("one_hour", int(T0)), ("one_day", int(T0) // 3600 * 3600),
    ]  # fmt: skip


def two_channel_engine(config: StandardsConfig) -> WindowEngine:
    return WindowEngine(config, grace_s=600, channels=("cases:0", "cases:1"))


def test_final_waits_for_the_slowest_upstream_task(config: StandardsConfig) -> None:
    engine, store = two_channel_engine(config), {}
    apply(engine, store, csat(T0 + 10), 1, Origin("cases:0", 1))
    # cases:0 read far ahead: without cases:1 nothing is final, and nothing is late.
    assert advance(engine, store, T0 + 7200, "cases:0") == []
    assert not apply(engine, store, csat(T0 + 20), 2, Origin("cases:1", 1)).late
    assert advance(engine, store, T0 + 299, "cases:1") == []
    finals = advance(engine, store, T0 + 300, "cases:1")
    # The five minutes from T0, and the hour hopping in that ends with them.
    assert [(f["window"], f["count"]) for f in finals] == [("five_minutes", 2), ("one_hour", 2)]
    assert engine.watermark(store, 0) == T0 + 300


def test_watermark_alone_finalises_every_group_of_the_partition(
    config: StandardsConfig,
) -> None:
    engine, store = WindowEngine(config, grace_s=600), {}
    other = Observation("irs", "refunds", "chat", "csat", T0 + 5, 1.0)
    apply(engine, store, csat(T0), 1)
    apply(engine, store, other, 2)
    finals = advance(engine, store, T0 + 86_400 + 3600)  # a quiet day later: no data at all
    groups = {(f["agency"], f["window"]) for f in finals}
    assert groups == {(a, w) for a in ("ssa", "irs") for w in ("five_minutes", "one_hour",
                                                                 "one_day")}  # fmt: skip
    assert advance(engine, store, T0 + 86_400 + 7200) == []  # each final once


def test_idle_upstream_task_does_not_hold_finals_back(config: StandardsConfig) -> None:
    engine, store = two_channel_engine(config), {}
    apply(engine, store, csat(T0), 1, Origin("cases:0", 1))
    advance(engine, store, T0 + 100, "cases:1", now=NOW)
    # Silent for an hour: a slow or restarting upstream task still holds the watermark back.
    assert advance(engine, store, T0 + 400, "cases:0", now=NOW + 3600) == []
    # Once it says it is idle (all of its inputs are), it does not.
    assert advance(engine, store, None, "cases:1", now=NOW + 3601, idle=True) != []
    assert engine.output(store, 0, NOW + 3601) == Watermark(T0 + 400, idle=False)
    advance(engine, store, None, "cases:0", now=NOW + 3602, idle=True)
    assert engine.output(store, 0, NOW + 3602).idle


def test_watermark_and_groups_restore_from_the_store(config: StandardsConfig) -> None:
    engine, store = two_channel_engine(config), {}
    apply(engine, store, csat(T0 + 310), 1, Origin("cases:0", 1))
    advance(engine, store, T0 + 550, "cases:0")
    advance(engine, store, T0 + 500, "cases:1")
    # A new process over the restored table: the same watermark, channels and groups.
    restarted = two_channel_engine(config)
    assert restarted.watermark(store, 0) == T0 + 500
    # Late only once a window holding it is final: the five minutes to T0 + 300 are.
    assert restarted.apply(store, csat(T0 + 299), 2, Origin("cases:1", 1), now=NOW).late
    assert not restarted.apply(store, csat(T0 + 450), 3, Origin("cases:1", 2), now=NOW).late
    assert advance(restarted, store, T0 + 700, "cases:1", now=NOW + 5) == []  # cases:0: 550
    finals = advance(restarted, store, T0 + 600, "cases:0", now=NOW + 6)
    assert [(f["window"], f["count"]) for f in finals] == [("five_minutes", 2), ("one_hour", 2)]


def test_what_a_fast_upstream_task_promised_survives_a_restart_before_any_step(
    config: StandardsConfig,
) -> None:
    """cases:0 promised T0 + 7200 while cases:1, slower, held the watermark at nothing, and the
    worker was killed. Restarted with nothing left to read, both upstream tasks only say they
    are idle, with no watermark: the promise kept in the store must close the windows, or they
    stay open for good (a backlog's windows were never final after a kill -9)."""
    engine, store = two_channel_engine(config), {}
    apply(engine, store, csat(T0), 1, Origin("cases:0", 1))
    assert advance(engine, store, T0 + 7200, "cases:0") == []
    assert engine.watermark(store, 0) is None
    restarted = two_channel_engine(config)
    advance(restarted, store, None, "cases:0", now=NOW + 10, idle=True)
    finals = advance(restarted, store, None, "cases:1", now=NOW + 11, idle=True)
    # Every window ending by T0 + 7200, a day hopping by the hour among them.
    assert {f["window"] for f in finals} == {"five_minutes", "one_hour", "one_day"}
    assert restarted.watermark(store, 0) >= T0 + 7200


def test_upstream_marks_that_do_not_move_the_watermark_are_written_sparingly(
    config: StandardsConfig,
) -> None:
    """A channel's first watermark at once; its moves every TRACKER_WRITE_S of wall clock
    (a busy stage reads a dozen watermark records a second per partition)."""
    engine, store = two_channel_engine(config), {}
    apply(engine, store, csat(T0), 1, Origin("cases:0", 1))

    def writes(mark: float, now: float) -> bool:
        advanced = engine.advance(store, 0, "cases:0", mark, False, now)
        engine.commit(store, advanced)
        return bool(advanced.writes)

    assert writes(T0 + 100, NOW)  # cases:0's first mark; cases:1 holds the watermark
    assert not writes(T0 + 100, NOW + 1)  # nothing moved
    assert not writes(T0 + 200, NOW + 2)  # moved, written a second ago
    assert writes(T0 + 300, NOW + 2 + TRACKER_WRITE_S)
    assert store["w|0"]["tracker"]["channels"]["cases:0"] == T0 + 300
    assert engine.watermark(store, 0) is None


def test_throttle_rate_limits_per_key_and_forgets_old_emissions() -> None:
    throttle: UpdateThrottle[str] = UpdateThrottle(5.0)
    throttle.touch("a")
    assert throttle.due(100.0) == [("a", 0)]
    throttle.touch("a")
    assert throttle.due(102.0) == []
    assert throttle.due(105.0) == [("a", 0)]
    throttle.touch("b")
    assert throttle.due(200.0) == [("b", 0)]
    assert len(throttle._last) == 1  # "a" emitted long ago: forgotten


def test_throttle_emits_only_the_newest_version_of_a_key() -> None:
    """A replay passes through many windows of a family within one interval: one update,
    for the newest; an out-of-order touch of an older window does not take it back."""
    throttle: UpdateThrottle[str] = UpdateThrottle(5.0)
    for start in (300, 600, 900):
        throttle.touch("five_minutes", start)
    throttle.touch("five_minutes", 600)
    throttle.touch("one_hour", 0)
    assert sorted(throttle.due(100.0)) == [("five_minutes", 900), ("one_hour", 0)]
    throttle.touch("five_minutes", 1200)
    assert throttle.due(104.0) == []
    assert throttle.due(105.0) == [("five_minutes", 1200)]


def test_window_and_late_messages_satisfy_their_published_schemas(
    config: StandardsConfig,
) -> None:
    from servicepulse.processors.records import late_record
    from servicepulse.schemas.contract import validator

    engine, store = WindowEngine(config, grace_s=600), {}
    messages = []
    for n in range(0, 2 * 86_400, 900):
        apply(engine, store, csat(T0 + n, hit=n % 2 == 0), n + 1)
        ttfr = Observation("ssa", "retirement", "phone", "time_to_first_response", T0 + n, 60.0 * n)
        apply(engine, store, ttfr, n + 2)
        messages += advance(engine, store, T0 + n - 600)
    update = engine.window_message(store, "ssa|retirement|phone", "csat",
                                   engine.specs[0], int(T0 + 2 * 86_400 - 900) // 300 * 300,
                                   final=False)  # fmt: skip
    assert update is not None
    messages.append(update)
    windows = validator("service-window.v1")
    assert {m["kind"] for m in messages} == {"duration", "rate"}
    for message in messages:
        windows.validate(message)
    late = late_record(csat(T0), "e-1", T0 + 7200, 600)
    validator("late-observation.v1").validate(late)


def test_published_standard_names_match_the_standards_catalogue() -> None:
    from servicepulse.processors.standards import STANDARD_NAMES
    from servicepulse.schemas.contract import load_schema

    enum = load_schema("service-window.v1")["$defs"]["standardName"]["enum"]
    assert enum == sorted(STANDARD_NAMES)


def test_a_stop_before_the_watermark_entry_sends_the_same_finals_again(
    config: StandardsConfig,
) -> None:
    """Finals go out before the step's writes; a worker stopped anywhere among those writes
    (the changelog keeps a prefix of them, in order) repeats identical finals on restart or
    none at all. The partition entry comes first: nothing a final reads may be gone without it."""
    engine, store = WindowEngine(config), {}
    for n in range(0, 30 * 3600, 1800):
        apply(engine, store, csat(T0 + n, hit=n % 3 == 0), n + 1)
    step = engine.advance(store, 0, "upstream:0", T0 + 30 * 3600, False, NOW)
    assert step.finals and step.expired
    assert all(key in store for key in step.expired)  # nothing deleted before the finals left

    before = dict(store)
    recorded = RecordingStore(store)
    engine.commit(recorded, step)
    assert recorded.log[0][0] == "w|0"
    for cut in range(len(recorded.log) + 1):
        # What a restart restores: the state before the step plus a prefix of its writes.
        restored = restored_from(before, recorded.log[:cut])
        again = WindowEngine(config).advance(restored, 0, "upstream:0", T0 + 30 * 3600, False, NOW)
        assert again.finals == (step.finals if cut == 0 else []), cut


def test_a_step_that_ends_no_window_is_not_written_and_judges_nothing_late(
    config: StandardsConfig,
) -> None:
    """Lateness is judged by the windows: behind the watermark but in a window still open, an
    observation counts. So a step that ends no window changes nothing and need not be written
    at once (each write is a barrier for the parked panes, streams.delivery)."""
    engine, store = WindowEngine(config), {}
    apply(engine, store, csat(T0 + 10), 1)
    assert advance(engine, store, T0 + 100, now=NOW) == []  # the first mark: written
    assert engine.watermark(store, 0) == T0 + 100
    step = engine.advance(store, 0, "upstream:0", T0 + 250, False, NOW + 1)
    assert not step.writes and not step.finals
    assert not apply(engine, store, csat(T0 + 200), 2).late  # behind 250, its window open
    later = engine.advance(store, 0, "upstream:0", T0 + 260, False, NOW + 1 + TRACKER_WRITE_S)
    assert later.writes["w|0"]["wm"] == T0 + 260  # moves are still kept, sparingly
    engine.commit(store, later)
    finals = advance(engine, store, T0 + 300, now=NOW + 12)
    assert [(f["window"], f["count"]) for f in finals] == [("five_minutes", 2), ("one_hour", 2)]
    assert apply(engine, store, csat(T0 + 299), 3).late
