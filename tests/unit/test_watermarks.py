"""Watermark arithmetic: minimum over inputs, idleness, the wall-clock bound, restore."""

from __future__ import annotations

import json

import pytest

from servicepulse.processors.watermarks import Watermark, WatermarkTracker

T = 1_800_000_000.0  # event time
NOW = 1_900_000_000.0  # wall clock, well after T: a replayed backlog


def tracker(*channels: str, disorder: float = 600.0, idle: float = 30.0) -> WatermarkTracker:
    return WatermarkTracker(channels, disorder, idle, NOW)


def test_source_watermark_is_latest_event_time_less_disorder() -> None:
    source = tracker("in:0")
    assert source.advance(NOW) == Watermark(None, idle=False)
    source.observe_event("in:0", T + 100, NOW)
    source.observe_event("in:0", T, NOW)  # out of order: the latest still counts
    assert source.advance(NOW) == Watermark(T + 100 - 600, idle=False)


def test_output_is_the_minimum_over_active_channels() -> None:
    stage = tracker("up:0", "up:1", "up:2")
    stage.observe_watermark("up:0", T + 3000, False, NOW)
    stage.observe_watermark("up:1", T + 1000, False, NOW)
    # One channel never heard yet holds everything back (until its idle timeout).
    assert stage.advance(NOW).value is None
    stage.observe_watermark("up:2", T + 2000, False, NOW)
    assert stage.advance(NOW).value == T + 1000
    # A partition read far ahead of the others never moves the watermark by itself.
    stage.observe_watermark("up:0", T + 9000, False, NOW + 1)
    assert stage.advance(NOW + 1).value == T + 1000
    stage.observe_watermark("up:1", T + 5000, False, NOW + 2)
    assert stage.advance(NOW + 2).value == T + 2000


def test_watermark_never_goes_back() -> None:
    stage = tracker("up:0", "up:1")
    stage.observe_watermark("up:0", T + 100, False, NOW)
    stage.observe_watermark("up:1", T + 200, False, NOW)
    assert stage.advance(NOW).value == T + 100
    stage.observe_watermark("up:0", T, False, NOW)  # a repeat after an upstream restart
    assert stage.advance(NOW).value == T + 100


def test_silent_channel_stops_holding_back_after_the_idle_timeout() -> None:
    stage = tracker("up:0", "up:1", idle=30)
    stage.observe_watermark("up:0", T, False, NOW)
    stage.observe_watermark("up:1", T + 500, False, NOW)
    stage.observe_watermark("up:1", T + 900, False, NOW + 29)
    assert stage.advance(NOW + 29).value == T
    stage.observe_watermark("up:1", T + 1000, False, NOW + 30)
    assert stage.advance(NOW + 30) == Watermark(T + 1000, idle=False)
    # Heard again, it holds the minimum again (from where the watermark already is).
    stage.observe_watermark("up:0", T + 10, False, NOW + 31)
    stage.observe_watermark("up:1", T + 2000, False, NOW + 31)
    assert stage.advance(NOW + 31).value == T + 1000
    stage.observe_watermark("up:0", T + 1500, False, NOW + 32)
    assert stage.advance(NOW + 32).value == T + 1500


def test_channel_that_says_it_is_idle_is_left_out_at_once() -> None:
    stage = tracker("up:0", "up:1")
    stage.observe_watermark("up:0", T, True, NOW)
    stage.observe_watermark("up:1", T + 700, False, NOW)
    assert stage.advance(NOW) == Watermark(T + 700, idle=False)


def test_data_keeps_a_channel_active() -> None:
    stage = tracker("up:0", "up:1", idle=30)
    stage.observe_watermark("up:0", T, False, NOW)
    stage.observe_watermark("up:1", T + 500, False, NOW)
    stage.heard("up:0", NOW + 25)
    assert stage.advance(NOW + 40).value == T


def test_all_idle_advances_with_the_wall_clock_bounded_by_now_less_disorder() -> None:
    stage = tracker("up:0", "up:1", disorder=600, idle=30)
    stage.observe_watermark("up:0", T, False, NOW)
    stage.observe_watermark("up:1", T, False, NOW)
    assert stage.advance(NOW).value == T
    assert stage.advance(NOW + 30) == Watermark(T, idle=True)
    assert stage.advance(NOW + 90) == Watermark(T + 60, idle=True)
    # A publisher clock 100 s ahead: the wall clock bound, now - disorder, still holds.
    live = tracker("in:0", disorder=600, idle=30)
    live.observe_event("in:0", NOW + 100, NOW)
    assert live.advance(NOW).value == NOW - 500
    assert live.advance(NOW + 30).value == NOW - 500
    assert live.advance(NOW + 500).value == NOW + 500 - 600  # the bound, not - 500 + 470
    assert live.advance(NOW + 1000).value == NOW + 1000 - 600
    # A channel active again stops the clock.
    stage.observe_watermark("up:0", T + 10, False, NOW + 100)
    assert stage.advance(NOW + 110) == Watermark(T + 60, idle=False)


def test_channels_going_idle_together_release_the_furthest_watermark() -> None:
    """A burst read to its end on every partition: the partitions fall quiet within moments
    of each other, the one without new events still behind. The output must not stay there."""
    stage = tracker("up:0", "up:1", idle=30)
    stage.observe_watermark("up:0", T, False, NOW)
    stage.observe_watermark("up:1", T, False, NOW)
    stage.observe_watermark("up:1", T + 86_400, False, NOW + 1)  # the tail, on one partition
    assert stage.advance(NOW + 1).value == T
    assert stage.advance(NOW + 40) == Watermark(T + 86_400, idle=True)
    # And a channel heard again holds it from there: its records behind it are late.
    stage.observe_watermark("up:0", T + 5, False, NOW + 50)
    assert stage.advance(NOW + 50) == Watermark(T + 86_400, idle=False)


def test_quiet_start_waits_for_a_first_watermark() -> None:
    stage = tracker("up:0", idle=30)
    assert stage.advance(NOW + 100) == Watermark(None, idle=True)


def test_state_round_trips_through_json_and_restores_fresh_idle_timeouts() -> None:
    stage = tracker("up:0", "up:1", idle=30)
    stage.observe_watermark("up:0", T + 100, False, NOW)
    stage.observe_watermark("up:1", T + 50, False, NOW)
    stage.advance(NOW)
    state = json.loads(json.dumps(stage.state()))
    restored = WatermarkTracker.restore(state, ("up:0", "up:1"), 600, 30, NOW + 3600)
    assert restored.output == T + 50
    # Not idle just because the worker was down: each channel gets a fresh timeout.
    assert restored.advance(NOW + 3601) == Watermark(T + 50, idle=False)
    restored.observe_watermark("up:1", T + 80, False, NOW + 3602)
    assert restored.advance(NOW + 3602).value == T + 80
    assert WatermarkTracker.restore(None, ("up:0",), 600, 30, NOW).advance(NOW).value is None


def test_without_a_timeout_only_a_channel_that_says_so_is_idle() -> None:
    stage = WatermarkTracker(("up:0", "up:1"), 600, None, NOW)
    stage.observe_watermark("up:0", T, False, NOW)
    stage.observe_watermark("up:1", T + 500, False, NOW)
    assert stage.advance(NOW + 86_400) == Watermark(T, idle=False)  # slow is not idle
    stage.observe_watermark("up:0", None, True, NOW + 86_401)
    assert stage.advance(NOW + 86_401) == Watermark(T + 500, idle=False)


def test_needs_channels_and_a_positive_idle_timeout() -> None:
    with pytest.raises(ValueError):
        WatermarkTracker((), 600, 30, NOW)
    with pytest.raises(ValueError):
        WatermarkTracker(("a",), 600, 0, NOW)


def test_watermark_records_round_trip_through_the_envelope() -> None:
    from servicepulse.processors import envelope

    record = envelope.WatermarkRecord("sp-interactions-by-case-id:3", Watermark(T, idle=True))
    raw = envelope.encode(record)
    assert envelope.is_watermark(raw)
    accepts = frozenset({envelope.RecordType.OBSERVATION, envelope.RecordType.WATERMARK})
    assert envelope.decode(raw, accepts) == record
    none = envelope.WatermarkRecord("feedback.events:0", Watermark(None, idle=False))
    assert envelope.decode(envelope.encode(none), accepts) == none
    with pytest.raises(envelope.UnreadableRecord):
        envelope.decode(raw, frozenset({envelope.RecordType.OBSERVATION}))
