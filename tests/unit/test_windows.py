"""Window arithmetic: membership, panes, lateness and finality."""

from __future__ import annotations

import pytest

from servicepulse.processors.windows import (
    DEFAULT_GRACE_S,
    DEFAULT_WINDOWS,
    FIVE_MINUTES,
    ONE_DAY,
    ONE_HOUR,
    WindowSpec,
    advance_watermark,
    final_up_to,
    is_final,
    newest_window_start,
    pane_expired,
    pane_key,
    pane_size,
    pane_sizes,
    pane_start,
    panes_for,
    window_panes,
    windows_containing,
    windows_finalised,
)

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, a multiple of every window step


def test_default_specs() -> None:
    assert [(s.name, s.size_s, s.step_s) for s in DEFAULT_WINDOWS] == [
        ("five_minutes", 300, 300),
        ("one_hour", 3600, 300),
        ("one_day", 86400, 3600),
    ]
    assert FIVE_MINUTES.tumbling and not ONE_HOUR.tumbling


@pytest.mark.parametrize("spec", [*DEFAULT_WINDOWS, WindowSpec("odd", 700, 300)])
@pytest.mark.parametrize("offset", [0, 0.5, 299.999, 300, 3599, 3600.25, 86399.9, 86400, -1.5])
def test_newest_window_start_is_the_last_window_containing_t(
    spec: WindowSpec, offset: float
) -> None:
    t = T0 + offset
    newest, end = windows_containing(t, spec)[-1]
    assert newest_window_start(t, spec) == newest
    assert newest <= t < end
    assert newest + spec.step_s > t  # the next window starts after t: this one is the newest


def test_tumbling_window_boundaries() -> None:
    # Start is inclusive …
    assert windows_containing(T0, FIVE_MINUTES) == [(T0, T0 + 300)]
    # … end is exclusive.
    assert windows_containing(T0 + 300, FIVE_MINUTES) == [(T0 + 300, T0 + 600)]
    assert windows_containing(T0 + 299.999, FIVE_MINUTES) == [(T0, T0 + 300)]


def test_hopping_membership_count() -> None:
    windows = windows_containing(T0 + 1234.5, ONE_HOUR)
    assert len(windows) == 12
    assert all(start <= T0 + 1234.5 < end and end - start == 3600 for start, end in windows)
    assert all(start % 300 == 0 for start, _ in windows)
    assert windows == sorted(windows)
    assert len(windows_containing(T0 + 5, ONE_DAY)) == 24


def test_hopping_boundaries_exactly_on_a_step() -> None:
    windows = windows_containing(T0, ONE_HOUR)
    assert windows[0] == (T0 - 3300, T0 + 300)
    assert windows[-1] == (T0, T0 + 3600)
    # The window that ends exactly at T0 does not contain T0.
    assert (T0 - 3600, T0) not in windows


def test_non_multiple_size_and_step() -> None:
    spec = WindowSpec("odd", 300, 120)
    assert pane_size(spec) == 60
    windows = windows_containing(T0 + 10, spec)
    assert all(start <= T0 + 10 < end for start, end in windows)
    assert [start % 120 for start, _ in windows] == [0] * len(windows)
    assert len(windows) == 3  # starts T0-240, T0-120, T0


def test_invalid_specs() -> None:
    with pytest.raises(ValueError):
        WindowSpec("bad", 0, 0)
    with pytest.raises(ValueError):
        WindowSpec("gappy", 60, 120)


def test_panes() -> None:
    assert [pane_size(spec) for spec in DEFAULT_WINDOWS] == [300, 300, 3600]
    assert pane_sizes(DEFAULT_WINDOWS) == [300, 3600]
    assert pane_start(T0 + 301, 300) == T0 + 300
    assert pane_start(T0 + 300, 300) == T0 + 300
    assert pane_start(T0 - 1, 300) == T0 - 300
    # One pane per distinct pane size, not one per window.
    sizes = pane_sizes(DEFAULT_WINDOWS)
    assert panes_for(T0 + 3700, sizes) == [(300, T0 + 3600), (3600, T0 + 3600)]


def test_window_is_the_union_of_its_panes() -> None:
    for spec in DEFAULT_WINDOWS:
        size = pane_size(spec)
        for start, end in windows_containing(T0 + 7777, spec):
            panes = window_panes(start, spec)
            assert panes[0] == start and panes[-1] + size == end
            assert len(panes) == spec.size_s // size
    # The single pane an observation updates is in every window that contains it.
    t = T0 + 7777
    for spec in DEFAULT_WINDOWS:
        pane = pane_start(t, pane_size(spec))
        for start, _ in windows_containing(t, spec):
            assert pane in window_panes(start, spec)


def test_pane_keys_round_trip() -> None:
    assert pane_key(300, T0) == f"300:{T0}"


def test_lateness_boundary_is_the_end_of_the_newest_final_window() -> None:
    hour = WindowSpec("one_hour", 3600, 300)
    assert final_up_to(None, [FIVE_MINUTES]) is None  # nothing is final, nothing late
    assert final_up_to(T0 + 1000, [FIVE_MINUTES, hour]) == T0 + 900
    assert final_up_to(T0 + 900, [FIVE_MINUTES]) == T0 + 900  # a window ending at it: final
    assert final_up_to(T0 + 899.9, [FIVE_MINUTES]) == T0 + 600
    day = WindowSpec("one_day", 86_400, 3600)
    assert final_up_to(T0 + 5000, [day]) == T0 + 3600  # day windows end on the hour
    # An older observation does not move the watermark back.
    assert advance_watermark(T0 + 1000, T0) == T0 + 1000


def test_finality_boundary() -> None:
    end = T0 + 300
    assert not is_final(end, None)
    assert not is_final(end, end + DEFAULT_GRACE_S - 0.001)
    assert is_final(end, end + DEFAULT_GRACE_S)


def test_late_iff_a_containing_window_is_final() -> None:
    hour, day = WindowSpec("one_hour", 3600, 300), WindowSpec("one_day", 86_400, 3600)
    for specs in ([FIVE_MINUTES, hour, day], [WindowSpec("odd", 700, 300)]):
        _late_iff_a_containing_window_is_final(specs)


def _late_iff_a_containing_window_is_final(specs: list[WindowSpec]) -> None:
    for watermark in (T0 + 5000.0, T0 + 5100.0, T0 + 86_400.0 + 7.5):
        boundary = final_up_to(watermark, specs)
        assert boundary is not None
        for t in [watermark - d for d in (0.0, 1.0, 99.5, 100.0, 299.0, 600.0, 3700.0)]:
            final = [is_final(end, watermark, 0) for spec in specs
                     for _, end in windows_containing(t, spec)]  # fmt: skip
            assert (t < boundary) == any(final), (watermark, t)


def test_windows_finalised_once_each() -> None:
    emitted: list[tuple[int, int]] = []
    watermark: float | None = None
    for t in [T0 + 7, T0 + 400, T0 + 350, T0 + 1500, T0 + 1501, T0 + 4000]:
        new = advance_watermark(watermark, t)
        emitted += windows_finalised(watermark, new, FIVE_MINUTES)
        watermark = new
    # Watermark T0+4000, grace 600: every window ending in (first watermark - grace, T0+3400]
    # became final exactly once; the two before T0 simply hold no observations.
    expected = [(s, s + 300) for s in range(T0 - 600, T0 + 3400 - 300 + 1, 300)]
    assert emitted == expected
    assert all(is_final(end, watermark) for _, end in emitted)
    assert not is_final(T0 + 3700, watermark)


def test_windows_finalised_hopping_matches_is_final() -> None:
    before, after = T0 + 10_000.0, T0 + 13_333.0
    got = windows_finalised(before, after, ONE_HOUR)
    starts = range(T0 - 3600, T0 + 20_000, 300)
    want = [
        (s, s + 3600)
        for s in starts
        if is_final(s + 3600, after) and not is_final(s + 3600, before)
    ]
    assert got == want and got
    assert windows_finalised(None, after, ONE_HOUR) == []
    assert windows_finalised(after, before, ONE_HOUR) == []


def test_windows_finalised_holding_lists_the_windows_of_those_panes_only() -> None:
    before, after = T0 + 10_000.0, T0 + 13_333.0
    panes = [T0 + 6300, T0 + 9000, T0 + 12_600]  # pane starts (300 s panes) holding data
    every = windows_finalised(before, after, ONE_HOUR)
    want = [w for w in every if any(w[0] <= p < w[1] for p in panes)]
    assert windows_finalised(before, after, ONE_HOUR, holding=panes) == want and want
    assert windows_finalised(before, after, ONE_HOUR, holding=[]) == []


def test_a_watermark_jump_to_year_9999_costs_the_panes_not_the_years() -> None:
    year_9999 = 253_402_300_000.0
    panes = [T0 + 300 * n for n in range(5)]
    finals = windows_finalised(T0 + 1500.0, year_9999, ONE_DAY, holding=panes)
    assert finals == sorted({w for p in panes for w in windows_containing(p, ONE_DAY)})
    with pytest.raises(ValueError, match="jumped"):
        windows_finalised(T0 + 1500.0, year_9999, FIVE_MINUTES)


def test_pane_expiry() -> None:
    watermark = T0 + 200_000.0
    horizon = watermark - DEFAULT_GRACE_S - ONE_DAY.size_s
    assert pane_expired(int(horizon) - 3600, 3600, watermark)
    assert not pane_expired(int(horizon) - 3599, 3600, watermark)
    assert not pane_expired(T0, 300, None)
    # An expired pane is in no window that is not yet final.
    start = int(horizon) - 300
    for spec in DEFAULT_WINDOWS:
        for _, end in windows_containing(start, spec):
            assert is_final(end, watermark)
