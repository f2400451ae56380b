"""Event-time windows per (agency, service, channel) over a key-value store of panes.

The stream edge hands every observation here with the Kafka offset it came from, the
partition it was read from and a store (a Faust changelog table in the worker, a dict in
tests), and every watermark record from an upstream task. All of a group's observations live
in one partition, in order, so per-key offsets make re-processing after a restart idempotent:

    w|<partition>                       {"wm": watermark the finals were sent up to,
                                         "tracker": WatermarkTracker state (upstream tasks),
                                         "groups": ["<group>|<standard>", …] in this partition}
    m|<group>|<standard>                {"off": an offset applied, "origins": {…} likewise,
                                         "starts": {"300": [pane starts…], "3600": […]}}
    p|<group>|<standard>|<size:start>   {"agg": aggregate, "off": last offset applied,
                                         "org": {"<topic>:<partition>": last origin offset}}

Two kinds of repeat are absorbed, pane by pane: this agent re-reading an observation after a
restart (its offset is not above the pane's "off"), and an upstream agent re-emitting one
after a restart (the same origin partition and offset, not above the pane's "org" entry for
that origin; per origin partition, a group's observations, and so a pane's, arrive in
origin-offset order). Each pane knows what it holds, so an observation whose writes a stop cut
short is added to the panes that missed it and to no other. The meta is written only when its
list of live panes changes (or for a late observation), not for every observation: its
offsets are a floor (everything up to them was applied), which repeats below it skip at once.
Watermark steps write metas last, after the finals are sent, so a stop between the two
neither loses nor repeats a final.

Lateness and finality are judged against the partition's **watermark** (processors.watermarks):
the minimum over the upstream tasks feeding it of what each has promised, never the largest
event time that happened to be read first. A window is final once the watermark reaches its
end, and an observation is late when a window holding it is final already
(processors.windows.final_up_to): before the end of the newest final window. The allowed
disorder (grace) is already taken off at the sources, so nothing here subtracts it again.

A window (see processors.windows) is the merge of its panes. Results leave as
``service.windows`` messages: updates while a window is open, one final once the watermark
passes its end.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import math
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

from servicepulse.processors.aggregates import AggregateState, aggregator_for
from servicepulse.processors.cases import Observation
from servicepulse.processors.standards import Standard, StandardsConfig
from servicepulse.processors.timestamps import rfc3339
from servicepulse.processors.watermarks import TrackerState, Watermark, WatermarkTracker
from servicepulse.processors.windows import (
    DEFAULT_GRACE_S,
    DEFAULT_WINDOWS,
    WindowSpec,
    final_up_to,
    is_final,
    newest_window_start,
    pane_expired,
    pane_key,
    pane_size,
    pane_sizes,
    panes_for,
    windows_containing,
)

# Holds PartitionEntry, WindowMeta and Pane values under their "w|", "m|" and "p|" keys.
Store = MutableMapping[str, Any]
# How often upstream marks that did not move the watermark are written (wall-clock seconds).
TRACKER_WRITE_S = 10.0


class PartitionEntry(TypedDict):
    """``w|<partition>``: the watermark finals were sent up to, the upstream tasks' watermarks
    (WatermarkTracker state), and the (group, standard)s living in the partition."""

    wm: float | None
    tracker: TrackerState | None
    groups: list[str]


class WindowMeta(TypedDict):
    """``m|<group>|<standard>``: the last offsets applied and the live panes."""

    off: int
    origins: dict[str, int]
    starts: dict[str, list[int]]


class Pane(TypedDict):
    """``p|<group>|<standard>|<size:start>``: one pane's aggregate, the last offset applied
    and the last origin offset applied per origin partition (none before session 8)."""

    agg: AggregateState
    off: int
    org: NotRequired[dict[str, int]]


def group_key(agency: str, service: str, channel: str) -> str:
    return f"{agency}|{service}|{channel}"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an observation was made: the upstream record (topic partition and offset)."""

    partition: str
    offset: int


@dataclass
class Applied:
    """What one observation did: nothing (duplicate / no standard), late, or counted.

    The caller writes the entries with ``commit`` once it has sent what it had to send.
    ``watermark`` is the partition's watermark the observation was judged against.
    """

    meta_key: str = ""
    meta: WindowMeta | None = None
    duplicate: bool = False
    late: bool = False
    watermark: float | None = None
    standard: Standard | None = None
    good: bool | None = None
    touched: list[tuple[str, str, WindowSpec, int]] = field(default_factory=list)
    writes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Advanced:
    """What one watermark record did: the finals to send, then (via ``commit``) the partition
    entry, the panes no open window needs any more, and the metas no longer listing them."""

    watermark: float | None = None
    finals: list[dict[str, Any]] = field(default_factory=list)
    writes: dict[str, Any] = field(default_factory=dict)
    expired: list[str] = field(default_factory=list)


@dataclass
class WindowEngine:
    """``channels``: the upstream tasks feeding each partition (``"<topic>:<partition>"``);
    ``grace_s`` is the allowed disorder the sources took off their watermarks. Upstream tasks
    say when they are idle (``idle_timeout_s`` None); a timeout is for tests of a source."""

    standards: StandardsConfig
    specs: tuple[WindowSpec, ...] = DEFAULT_WINDOWS
    grace_s: float = DEFAULT_GRACE_S
    channels: tuple[str, ...] = ("upstream:0",)
    idle_timeout_s: float | None = None
    # Wall-clock idleness is this process's view: kept out of the store, rebuilt on restore.
    _trackers: dict[int, WatermarkTracker] = field(default_factory=dict, repr=False)
    _partition_of: dict[str, int] = field(default_factory=dict, repr=False)
    # When each partition's upstream marks were last written (wall clock, this process).
    _tracker_written: dict[int, float] = field(default_factory=dict, repr=False)
    _pane_sizes: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pane_sizes = pane_sizes(self.specs)  # once, not per observation

    def apply(
        self, store: Store, obs: Observation, offset: int, origin: Origin | None = None,
        partition: int = 0, now: float | None = None,
    ) -> Applied:  # fmt: skip
        """Called once per observation, in partition order, with its offset and origin."""
        group = group_key(obs.agency, obs.service, obs.channel)
        standard = self.standards.for_group(obs.agency, obs.service, obs.channel).get(obs.standard)
        if standard is None:
            return Applied()  # no standard configured for this group: nothing to measure
        meta_key = f"m|{group}|{standard.name}"
        self._partition_of[meta_key] = partition
        if origin is not None and now is not None:
            self._tracker(store, partition, now).heard(origin.partition, now)
        stored: WindowMeta = store.get(meta_key) or {"off": -1, "origins": {}, "starts": {}}
        if offset <= stored["off"]:
            return Applied(duplicate=True)
        if origin is not None and origin.offset <= stored["origins"].get(origin.partition, -1):
            return Applied(duplicate=True)
        entry = self._entry(store, partition)
        result = Applied(meta_key, standard=standard, watermark=entry["wm"])
        if self._late(obs.at, entry["wm"]):
            # Written, so that a re-read sends the late record once.
            result.meta = _moved_on(stored, offset, origin, stored["starts"])
            result.late = True
            return result
        counted, starts = self._add_to_panes(store, stored, group, standard, obs, offset, origin)
        if starts is not None:
            result.meta = _moved_on(stored, offset, origin, starts)
        if not counted:
            result.duplicate = True  # every pane already held it: a stop cut its meta short
            return result
        result.good = aggregator_for(standard).is_good(obs.value)
        member = f"{group}|{standard.name}"
        if member not in entry["groups"]:
            result.writes[f"w|{partition}"] = {**entry, "groups": [*entry["groups"], member]}
        # Updates go out for the newest window of each family the observation falls in (the
        # "last 5 minutes / hour / day" a dashboard shows); older overlapping windows of a
        # hopping family change too, and get their final when they close.
        for spec in self.specs:
            result.touched.append((group, standard.name, spec, newest_window_start(obs.at, spec)))
        return result

    def advance(
        self, store: Store, partition: int, channel: str, watermark: float | None, idle: bool,
        now: float,
    ) -> Advanced:  # fmt: skip
        """A watermark record from upstream task ``channel``, read from ``partition``: the
        finals of every window of the partition's groups the watermark has now passed."""
        tracker = self._tracker(store, partition, now)
        tracker.observe_watermark(channel, watermark, idle, now)
        after = tracker.advance(now).value
        entry = self._entry(store, partition)
        before = entry["wm"]
        result = Advanced(before)
        if after is None or (before is not None and after <= before):
            after = before
        if after is None or not self._crosses_a_window_end(before, after):
            # No window ends: no final, no expiry, and (lateness being judged by the windows)
            # no observation is judged otherwise. Then the entry is not written every time:
            # a busy stage reads a dozen watermark records a second per partition, each write
            # costs the hop, and each is a barrier the parked panes must leave before
            # (streams.delivery). What upstream promised is still kept: a channel held back by
            # a slower one must not be forgotten in a restart, since its task may never say it
            # again (a source restarted with nothing left to read knows no event time). So a
            # channel's first watermark is written at once, moves every TRACKER_WRITE_S; a
            # restart from marks that old holds the watermark back a little.
            state = tracker.state()
            kept = entry["tracker"]
            if (state != kept or after != before) and (
                _first_mark(kept, state)
                or now - self._tracker_written.get(partition, -math.inf) >= TRACKER_WRITE_S
            ):
                result.writes[f"w|{partition}"] = {**entry, "wm": after, "tracker": state}
                self._tracker_written[partition] = now
            return result
        result.watermark = after
        for member in entry["groups"]:
            group, name = member.rsplit("|", 1)
            stored: WindowMeta | None = store.get(f"m|{member}")
            if stored is None:
                continue
            meta: WindowMeta = {
                **stored,
                "starts": {k: list(v) for k, v in stored["starts"].items()},
            }
            result.finals += self._finals(store, meta, group, name, before, after)
            result.expired += self._expire(meta, group, name, after)
            result.writes[f"m|{member}"] = meta
        result.writes[f"w|{partition}"] = {**entry, "wm": after, "tracker": tracker.state()}
        self._tracker_written[partition] = now
        return result

    def commit(self, store: Store, done: Applied | Advanced) -> None:
        """Called after what ``done`` asked to send was sent: writes its entries. An
        observation's group registration goes before its meta entry.

        A watermark step's partition entry (the watermark its finals were sent up to) goes
        first, then the expired panes and the metas that stop listing them: a stop before the
        entry sends the same finals again on restart, from the same panes, so nothing a final
        reads may be gone before it. A stop after it leaves at most panes the next step
        expires again (an expired pane is pruned whether or not it is still stored)."""
        if isinstance(done, Applied):
            for key, value in done.writes.items():
                store[key] = value
            if done.meta is not None:
                store[done.meta_key] = done.meta
            return
        later = []
        for key, value in done.writes.items():
            if key.startswith("w|"):
                store[key] = value
            else:
                later.append((key, value))
        for key in done.expired:
            store.pop(key, None)
        for key, value in later:
            store[key] = value

    def forget(self, partition: int) -> None:
        """The partition went to another worker: its wall-clock view goes with it."""
        self._trackers.pop(partition, None)

    def watermark(self, store: Store, partition: int) -> float | None:
        value = self._entry(store, partition)["wm"]
        return None if value is None else float(value)

    def output(self, store: Store, partition: int, now: float) -> Watermark:
        """What the stage forwards downstream: the watermark its finals were sent up to, and
        whether every upstream task is idle."""
        idle = self._tracker(store, partition, now).all_idle(now)
        return Watermark(self.watermark(store, partition), idle)

    def is_open(
        self, store: Store, group: str, standard: str, spec: WindowSpec, start: int
    ) -> bool:
        """False once the window's final message has been (or is being) sent."""
        partition = self._partition_of.get(f"m|{group}|{standard}")
        if partition is None:
            return True
        return not is_final(start + spec.size_s, self.watermark(store, partition), 0)

    def window_message(
        self, store: Store, group: str, standard_name: str, spec: WindowSpec, start: int,
        *, final: bool, meta: WindowMeta | None = None,
    ) -> dict[str, Any] | None:  # fmt: skip
        """The service.windows message for one window, or None if it holds no observation.
        ``meta`` is the group's meta entry when the caller holds it (else it is read)."""
        agency, service, channel = group.split("|")
        standard = self.standards.for_group(agency, service, channel).get(standard_name)
        if standard is None:
            return None
        if meta is None:
            meta = store.get(f"m|{group}|{standard_name}")
            if meta is None:
                return None
        size = pane_size(spec)
        aggregator = aggregator_for(standard)
        # The meta lists every live pane, so only those are read: a sparse group's window
        # would otherwise cost a lookup (and a missing-key exception) per empty pane slot.
        live = meta["starts"].get(str(size), [])
        first = bisect.bisect_left(live, start)
        in_window = live[first : bisect.bisect_left(live, start + spec.size_s, lo=first)]
        states = [
            pane["agg"]
            for pane_start in in_window
            if (pane := store.get(f"p|{group}|{standard_name}|{pane_key(size, pane_start)}"))
        ]
        aggregate = aggregator.merge_all(states)
        if aggregate["count"] == 0:
            return None
        identity = f"{group}|{standard_name}|{spec.name}|{start}"
        return {
            "window_id": hashlib.sha256(identity.encode()).hexdigest()[:24],
            "agency": agency,
            "service": service,
            "channel": channel,
            "window": spec.name,
            "window_start": _window_time(start),
            "window_end": _window_time(start + spec.size_s),
            **aggregator.result(aggregate),
            "final": final,
        }

    def _entry(self, store: Store, partition: int) -> PartitionEntry:
        found: PartitionEntry | None = store.get(f"w|{partition}")
        return found or {"wm": None, "tracker": None, "groups": []}

    def _tracker(self, store: Store, partition: int, now: float) -> WatermarkTracker:
        tracker = self._trackers.get(partition)
        if tracker is None:
            tracker = WatermarkTracker.restore(
                self._entry(store, partition)["tracker"], self.channels, self.grace_s,
                self.idle_timeout_s, now,
            )  # fmt: skip
            self._trackers[partition] = tracker
        return tracker

    def _crosses_a_window_end(self, before: float | None, after: float) -> bool:
        """Cheap test first: most watermark steps close no window of any family."""
        if before is None:
            return True
        return any(
            math.floor(after - spec.size_s) // spec.step_s
            > math.floor(before - spec.size_s) // spec.step_s
            for spec in self.specs
        )

    def _late(self, at: float, watermark: float | None) -> bool:
        """A window holding ``at`` is final already (processors.windows.final_up_to)."""
        final = final_up_to(watermark, self.specs)
        return final is not None and at < final

    def _add_to_panes(
        self, store: Store, meta: WindowMeta, group: str, standard: Standard,
        obs: Observation, offset: int, origin: Origin | None,
    ) -> tuple[bool, dict[str, list[int]] | None]:  # fmt: skip
        """Adds ``obs`` to each of its panes that does not hold it yet. Returns whether any
        did not, and the meta's new pane lists if a pane was not listed yet."""
        aggregator = aggregator_for(standard)
        counted, starts = False, None
        for size, start in panes_for(obs.at, self._pane_sizes):
            key = f"p|{group}|{standard.name}|{pane_key(size, start)}"
            pane: Pane | None = store.get(key)
            if pane is None:
                pane = {"agg": aggregator.initialize(), "off": -1}
            held = pane.get("org", {})
            if offset > pane["off"] and (
                origin is None or origin.offset > held.get(origin.partition, -1)
            ):
                updated: Pane = {"agg": aggregator.add(pane["agg"], obs.value), "off": offset}
                if origin is not None:
                    updated["org"] = {**held, origin.partition: origin.offset}
                elif held:
                    updated["org"] = held
                store[key] = updated
                counted = True
            # Listed even if the pane held it already: a stop cut the meta write short, and
            # finals find windows by their panes.
            listed = (starts or meta["starts"]).get(str(size), [])
            if start not in listed:
                if starts is None:
                    starts = {text: list(found) for text, found in meta["starts"].items()}
                starts[str(size)] = sorted([*listed, start])
        return counted, starts

    def _finals(
        self, store: Store, meta: WindowMeta, group: str, name: str, before: float | None,
        after: float,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Windows holding a live pane whose end is in (before, after], oldest first: found
        from the panes, so a long jump of the watermark costs what the state holds."""
        finals = []
        for spec in self.specs:
            size = pane_size(spec)
            low = -math.inf if before is None else before - spec.size_s
            starts = meta["starts"].get(str(size), [])
            ends = {
                start
                for pane in starts[bisect.bisect_right(starts, low) :]
                if pane < after
                for start, end in windows_containing(pane, spec)
                if (before is None or end > before) and end <= after
            }
            for start in sorted(ends):
                message = self.window_message(
                    store, group, name, spec, start, final=True, meta=meta
                )
                if message is not None:
                    finals.append(message)
        return finals

    def _expire(self, meta: WindowMeta, group: str, name: str, watermark: float) -> list[str]:
        """Drops the panes no window open at ``watermark`` needs from ``meta``; returns their
        keys, for ``commit`` to delete."""
        expired = []
        for size_text, starts in list(meta["starts"].items()):
            size = int(size_text)
            kept = []
            for start in starts:
                if pane_expired(start, size, watermark, self.specs, 0):
                    expired.append(f"p|{group}|{name}|{pane_key(size, start)}")
                else:
                    kept.append(start)
            meta["starts"][size_text] = kept
        return expired


def _first_mark(kept: TrackerState | None, state: TrackerState) -> bool:
    """A channel has a watermark now that had none in the kept state."""
    before = kept["channels"] if kept is not None else {}
    return any(
        mark is not None and before.get(name) is None for name, mark in state["channels"].items()
    )


def _moved_on(
    meta: WindowMeta, offset: int, origin: Origin | None, starts: dict[str, list[int]]
) -> WindowMeta:
    """``meta`` past the observation at ``offset`` (from ``origin``), listing ``starts``."""
    origins = meta["origins"]
    if origin is not None:
        origins = {**origins, origin.partition: origin.offset}
    return {"off": offset, "origins": origins, "starts": starts}


@functools.lru_cache(maxsize=4096)
def _window_time(epoch_seconds: float) -> str:
    """Window bounds repeat for every group, standard and update: formatted once each."""
    return rfc3339(epoch_seconds)
