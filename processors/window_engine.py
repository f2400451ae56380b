"""Event-time windows per (agency, service, channel) over a key-value store of panes.

The stream edge hands every observation here with the Kafka offset it came from and a store
(a Faust changelog table in the worker, a dict in tests). All of a group's observations live
in one partition, in order, so per-key offsets make re-processing after a restart idempotent:

    m|<group>|<standard>                {"wm": watermark, "off": last offset applied,
                                         "origins": {"<topic>:<partition>": last origin offset},
                                         "starts": {"300": [pane starts…], "3600": […]}}
    p|<group>|<standard>|<size:start>   {"agg": aggregate, "off": last offset applied}

Two kinds of repeat are absorbed: this agent re-reading an observation after a restart (its
offset is not above "off"), and an upstream agent re-emitting one after a restart (the same
origin partition and offset, not above that origin's entry; per origin partition, a group's
observations arrive in origin-offset order). The meta entry is written last, by the caller,
after it has sent the finals, so a stop between the two neither loses nor repeats a final.

The watermark is kept per (group, standard), not per group: a standard's observations come
from one flow (feedback scoring, case correlation or repeat contacts), and those flows run
independently, so one running ahead must not make another's observations late.

A window (see processors.windows) is the merge of its panes. Results leave as
``service.windows`` messages: updates while a window is open, one final once the group's
watermark passes its end plus grace.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from servicepulse.processors.aggregates import AggregateState, aggregator_for
from servicepulse.processors.cases import Observation
from servicepulse.processors.standards import Standard, StandardsConfig
from servicepulse.processors.timestamps import rfc3339
from servicepulse.processors.windows import (
    DEFAULT_GRACE_S,
    DEFAULT_WINDOWS,
    WindowSpec,
    advance_watermark,
    is_final,
    is_late,
    pane_expired,
    pane_key,
    pane_size,
    panes_for,
    window_panes,
    windows_containing,
    windows_finalised,
)

# Holds WindowMeta and Pane values under their "m|" and "p|" keys.
Store = MutableMapping[str, Any]


class WindowMeta(TypedDict):
    """``m|<group>|<standard>``: the watermark, the last offsets applied, the live panes."""

    wm: float | None
    off: int
    origins: dict[str, int]
    starts: dict[str, list[int]]


class Pane(TypedDict):
    """``p|<group>|<standard>|<size:start>``: one pane's aggregate and last offset applied."""

    agg: AggregateState
    off: int


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

    The caller sends ``finals`` and then writes ``meta`` under ``meta_key`` (see ``commit``).
    """

    meta_key: str = ""
    meta: WindowMeta | None = None
    duplicate: bool = False
    late: bool = False
    standard: Standard | None = None
    good: bool | None = None
    finals: list[dict[str, Any]] = field(default_factory=list)
    touched: list[tuple[str, str, WindowSpec, int]] = field(default_factory=list)


@dataclass
class WindowEngine:
    standards: StandardsConfig
    specs: tuple[WindowSpec, ...] = DEFAULT_WINDOWS
    grace_s: float = DEFAULT_GRACE_S

    def apply(
        self, store: Store, obs: Observation, offset: int, origin: Origin | None = None
    ) -> Applied:
        """Called once per observation, in partition order, with its offset and origin."""
        group = group_key(obs.agency, obs.service, obs.channel)
        standard = self.standards.for_group(obs.agency, obs.service, obs.channel).get(
            obs.standard
        )
        if standard is None:
            return Applied()  # no standard configured for this group: nothing to measure
        meta_key = f"m|{group}|{standard.name}"
        stored: WindowMeta = store.get(meta_key) or {
            "wm": None, "off": -1, "origins": {}, "starts": {}
        }
        if offset <= stored["off"]:
            return Applied(duplicate=True)
        origins = dict(stored["origins"])
        if origin is not None:
            if origin.offset <= origins.get(origin.partition, -1):
                return Applied(meta_key, {**stored, "off": offset}, duplicate=True)
            origins[origin.partition] = origin.offset
        # A private copy: the store's object must not change unless it is written back.
        meta: WindowMeta = {
            "wm": stored["wm"],
            "off": offset,
            "origins": origins,
            "starts": {size: list(starts) for size, starts in stored["starts"].items()},
        }
        result = Applied(meta_key, meta, standard=standard)
        if is_late(obs.at, meta["wm"], self.grace_s):
            result.late = True
            return result
        result.good = aggregator_for(standard).is_good(obs.value)
        self._add_to_panes(store, meta, group, standard, obs, offset)
        # Updates go out for the newest window of each family the observation falls in (the
        # "last 5 minutes / hour / day" a dashboard shows); older overlapping windows of a
        # hopping family change too, and get their final when they close.
        for spec in self.specs:
            newest_start, _ = windows_containing(obs.at, spec)[-1]
            result.touched.append((group, standard.name, spec, newest_start))
        before = meta["wm"]
        meta["wm"] = after = advance_watermark(before, obs.at)
        result.finals = self._finalise(store, group, standard.name, before, after, meta["starts"])
        return result

    def commit(self, store: Store, applied: Applied) -> None:
        """Called after the finals of ``applied`` were sent: expires the panes no window needs
        any more and writes the meta entry, which marks the observation as applied."""
        if applied.meta is None:
            return
        if applied.standard is not None and not applied.late:
            group = applied.meta_key.split("|", 1)[1].rsplit("|", 1)[0]
            self._expire(store, applied.meta, group, applied.standard.name)
        store[applied.meta_key] = applied.meta

    def watermark(self, store: Store, group: str, standard: str) -> float | None:
        meta = store.get(f"m|{group}|{standard}")
        return None if meta is None or meta["wm"] is None else float(meta["wm"])

    def is_open(
        self, store: Store, group: str, standard: str, spec: WindowSpec, start: int
    ) -> bool:
        """False once the window's final message has been (or is being) sent."""
        return not is_final(start + spec.size_s, self.watermark(store, group, standard),
                            self.grace_s)  # fmt: skip

    def window_message(
        self, store: Store, group: str, standard_name: str, spec: WindowSpec, start: int,
        *, final: bool,
    ) -> dict[str, Any] | None:  # fmt: skip
        """The service.windows message for one window, or None if it holds no observation."""
        agency, service, channel = group.split("|")
        standard = self.standards.for_group(agency, service, channel).get(standard_name)
        if standard is None:
            return None
        size = pane_size(spec)
        aggregator = aggregator_for(standard)
        states = [
            pane["agg"]
            for pane_start in window_panes(start, spec)
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
            "window_start": rfc3339(start),
            "window_end": rfc3339(start + spec.size_s),
            **aggregator.result(aggregate),
            "final": final,
        }

    def _add_to_panes(
        self, store: Store, meta: WindowMeta, group: str, standard: Standard,
        obs: Observation, offset: int,
    ) -> None:  # fmt: skip
        aggregator = aggregator_for(standard)
        for size, start in panes_for(obs.at, self.specs):
            key = f"p|{group}|{standard.name}|{pane_key(size, start)}"
            pane: Pane = store.get(key) or {"agg": aggregator.initialize(), "off": -1}
            if offset <= pane["off"]:
                continue  # applied before a restart; the meta write was what got lost
            updated: Pane = {"agg": aggregator.add(pane["agg"], obs.value), "off": offset}
            store[key] = updated
            starts = meta["starts"].setdefault(str(size), [])
            if start not in starts:
                meta["starts"][str(size)] = sorted([*starts, start])

    def _finalise(
        self, store: Store, group: str, name: str, before: float | None, after: float,
        starts: dict[str, list[int]],
    ) -> list[dict[str, Any]]:  # fmt: skip
        finals = []
        for spec in self.specs:
            # Only windows holding data have a final: found from the group's panes, so the
            # cost is bounded by its state, not by how far the watermark jumped.
            holding = starts.get(str(pane_size(spec)), [])
            finalised = windows_finalised(before, after, spec, self.grace_s, holding=holding)
            for start, _ in finalised:
                message = self.window_message(store, group, name, spec, start, final=True)
                if message is not None:
                    finals.append(message)
        return finals

    def _expire(self, store: Store, meta: WindowMeta, group: str, name: str) -> None:
        for size_text, starts in list(meta["starts"].items()):
            size = int(size_text)
            kept = []
            for start in starts:
                if pane_expired(start, size, meta["wm"], self.specs, self.grace_s):
                    store.pop(f"p|{group}|{name}|{pane_key(size, start)}", None)
                else:
                    kept.append(start)
            meta["starts"][size_text] = kept
