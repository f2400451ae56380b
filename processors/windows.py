"""Event-time window arithmetic, stored by pane.

Windows are aligned to epoch multiples of their step, start inclusive and end exclusive; a
window is tumbling when ``step_s == size_s`` and hopping otherwise.

Storage is by *pane* (Li et al., "No Pane, No Gain", SIGMOD Record 2005): time is cut into
panes of ``gcd(size, step)`` seconds, every window is an exact union of whole panes, so an
observation updates exactly one pane per distinct pane size and a window's aggregate is the
merge of its panes. A 1 h window hopping by 5 min is then 12 pane merges instead of 12 updates
per observation.

Lateness and closing are judged against a watermark (processors.window_engine passes its
partition's low watermark from processors.watermarks, with grace 0: the sources took it off):

* an observation with ``t < watermark - grace`` is LATE, counted in no window (the caller
  sends it to the late topic);
* a window is FINAL once ``watermark >= end + grace`` and will not change again;
* a pane that ends at or before ``watermark - grace - max window size`` is in no window that
  can still change, so its state can be dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT_GRACE_S = 600


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A window family: ``size_s`` long, a new window every ``step_s`` seconds."""

    name: str
    size_s: int
    step_s: int

    def __post_init__(self) -> None:
        if self.size_s <= 0 or self.step_s <= 0:
            raise ValueError(f"window {self.name!r}: size and step must be positive seconds")
        if self.step_s > self.size_s:
            # Gaps between windows would silently drop observations.
            raise ValueError(f"window {self.name!r}: step {self.step_s}s exceeds size")

    @property
    def tumbling(self) -> bool:
        return self.step_s == self.size_s


FIVE_MINUTES = WindowSpec("five_minutes", 300, 300)
ONE_HOUR = WindowSpec("one_hour", 3600, 300)
ONE_DAY = WindowSpec("one_day", 86400, 3600)
DEFAULT_WINDOWS: tuple[WindowSpec, ...] = (FIVE_MINUTES, ONE_HOUR, ONE_DAY)


def _floor_to(t: float, multiple: int) -> int:
    # Floor first, then integer arithmetic: exact for any epoch time, unlike float division.
    return math.floor(t) // multiple * multiple


def windows_containing(t: float, spec: WindowSpec) -> list[tuple[int, int]]:
    """Every window ``(start, end)`` of ``spec`` with ``start <= t < end``, oldest first."""
    latest = newest_window_start(t, spec)
    starts = range(latest, latest - spec.size_s, -spec.step_s)
    return [(start, start + spec.size_s) for start in reversed(starts) if start + spec.size_s > t]


def newest_window_start(t: float, spec: WindowSpec) -> int:
    """Start of the newest window of ``spec`` containing ``t``: ``windows_containing``'s last,
    without listing the others (a day window hopping hourly has 24)."""
    return _floor_to(t, spec.step_s)


def pane_size(spec: WindowSpec) -> int:
    """Length of the panes ``spec``'s windows are built from: ``gcd(size, step)``."""
    return math.gcd(spec.size_s, spec.step_s)


def pane_start(t: float, size: int) -> int:
    """Start of the pane of length ``size`` that holds time ``t``."""
    return _floor_to(t, size)


def pane_sizes(specs: Iterable[WindowSpec]) -> list[int]:
    """The distinct pane sizes a set of windows needs, ascending."""
    return sorted({pane_size(spec) for spec in specs})


def panes_for(t: float, sizes: Iterable[int]) -> list[tuple[int, int]]:
    """``(pane_size, pane_start)`` for each pane an observation at ``t`` must update, given
    the ``pane_sizes`` of the windows (worked out once, not per observation)."""
    return [(size, pane_start(t, size)) for size in sizes]


def window_panes(start: int, spec: WindowSpec) -> list[int]:
    """Starts of the panes (of ``pane_size(spec)``) whose merge is window ``start``."""
    size = pane_size(spec)
    return list(range(start, start + spec.size_s, size))


def pane_key(size: int, start: int) -> str:
    """JSON object key for a pane, e.g. ``"300:1767225600"`` (JSON keys must be strings)."""
    return f"{size}:{start}"


def advance_watermark(watermark: float | None, t: float) -> float:
    """The group's watermark after seeing an observation at ``t`` (late or not)."""
    return t if watermark is None else max(watermark, t)


def final_up_to(watermark: float | None, specs: Iterable[WindowSpec]) -> float | None:
    """The end of the newest window any family has made final at ``watermark``.

    An observation before it is late: a window holding it is final already (as Flink judges
    lateness, by the window, not by the watermark alone). One at or after it still counts in
    every window, even behind the watermark, and so lateness only changes where a window ends.
    """
    if watermark is None:
        return None
    return max(
        math.floor((watermark - spec.size_s) / spec.step_s) * spec.step_s + spec.size_s
        for spec in specs
    )


def is_final(end: float, watermark: float | None, grace_s: float = DEFAULT_GRACE_S) -> bool:
    """True once window ``[.., end)`` can no longer receive observations."""
    return watermark is not None and watermark >= end + grace_s


# Listing every window between two watermarks costs their distance: a bound for callers that
# give no pane starts (an event dated 9999 must not make the worker walk 8,000 years).
MAX_WINDOWS_LISTED = 100_000


def windows_finalised(
    before: float | None,
    after: float,
    spec: WindowSpec,
    grace_s: float = DEFAULT_GRACE_S,
    *,
    holding: Iterable[int] | None = None,
) -> list[tuple[int, int]]:
    """Windows of ``spec`` that became FINAL when the watermark moved from ``before`` to
    ``after``, oldest first; called after each watermark advance to emit finals exactly once.

    With ``holding`` (the starts of the panes of ``pane_size(spec)`` that hold data) only the
    windows containing one of them are listed, at a cost bounded by the number of panes
    whatever the jump of the watermark: the new windows are walked when they are fewer (an
    ordinary advance, usually zero or one), the held panes' windows otherwise (a jump).
    Without it every window is listed, holding data or not, and a jump of more than
    ``MAX_WINDOWS_LISTED`` windows raises ValueError.
    With no earlier watermark the group has no observations, so nothing can have closed.
    """
    if before is None or after <= before:
        return []
    # Final iff end <= watermark - grace, so the new ones have end in (before - g, after - g],
    # i.e. start = k * step in (before - g - size, after - g - size].
    low = math.floor(before - grace_s - spec.size_s) // spec.step_s + 1
    high = math.floor(after - grace_s - spec.size_s) // spec.step_s
    count = high - low + 1
    if count <= 0:
        return []
    if holding is None:
        if count > MAX_WINDOWS_LISTED:
            raise ValueError(
                f"window {spec.name!r}: the watermark jumped {count} windows; "
                "pass the pane starts holding data"
            )
        return [(k * spec.step_s, k * spec.step_s + spec.size_s) for k in range(low, high + 1)]
    held = set(holding)
    pane = pane_size(spec)
    panes_per_window = spec.size_s // pane
    windows_per_pane = spec.size_s // spec.step_s
    if count * panes_per_window <= len(held) * windows_per_pane:
        return [
            (start, start + spec.size_s)
            for start in range(low * spec.step_s, (high + 1) * spec.step_s, spec.step_s)
            if any(p in held for p in range(start, start + spec.size_s, pane))
        ]
    return sorted(
        {
            window
            for start in held
            for window in windows_containing(start, spec)
            if before - grace_s < window[1] <= after - grace_s
        }
    )


def max_window_size(specs: Sequence[WindowSpec]) -> int:
    return max(spec.size_s for spec in specs)


def pane_expired(
    start: int,
    size: int,
    watermark: float | None,
    specs: Sequence[WindowSpec] = DEFAULT_WINDOWS,
    grace_s: float = DEFAULT_GRACE_S,
) -> bool:
    """True if pane ``[start, start + size)`` belongs to no window that can still change.

    Conservative: uses the largest window of all ``specs``, so a pane is kept at most one
    long window longer than strictly needed. Call after emitting ``windows_finalised``.
    """
    if watermark is None:
        return False
    return start + size <= watermark - grace_s - max_window_size(specs)
