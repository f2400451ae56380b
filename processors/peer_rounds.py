"""Peer rankings by event time: a window end is ranked once the watermark has passed it.

Finals of the benchmark window come from every windows partition, each at its own pace. A
final waits under its window end; once the peers stage's watermark (the minimum over the
windows tasks, processors.watermarks) reaches that end, every final of that end has arrived,
and each standard is ranked once over every group's latest compliance as of that end. So a
replayed backlog ranks the same peers as a live feed did, whatever order partitions ran in.

Over a key-value store (the single-partition changelog table in the worker):

    pending|<window_end>|<agency|service|channel|standard>  {"compliance": c, "at": window_end}
    <agency|service|channel|standard>                       {"compliance": c, "at": window_end}

A held final is one small entry of its own: a round is every group of every agency, so one
entry per window end would be rewritten, and sent to the changelog whole, with every final.

The caller sends a round's rankings, then ``settle`` folds that end into the latest values:
a stop in between ranks the end again (at-least-once), never skips it.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from servicepulse.processors.peer_benchmarks import GroupKey
from servicepulse.processors.records import epoch_of

Store = MutableMapping[str, Any]
PENDING = "pending|"


def hold(store: Store, final: dict[str, Any]) -> None:
    """A final of the benchmark window waits for its end to pass the watermark."""
    if final.get("compliance") is None:
        return  # insufficient data: nothing to rank
    end = final["window_end"]
    member = "|".join((final["agency"], final["service"], final["channel"], final["standard"]))
    store[f"{PENDING}{end}|{member}"] = {"compliance": final["compliance"], "at": end}


def _pending(store: Store, end: str | None = None) -> list[tuple[str, str, str]]:
    """``(key, end, agency|service|channel|standard)`` of the held finals (of ``end``)."""
    prefix = PENDING if end is None else f"{PENDING}{end}|"
    return [
        (key, *key.removeprefix(PENDING).split("|", 1))  # type: ignore[misc]
        for key in list(store.keys())
        if key.startswith(prefix)
    ]


def due_ends(store: Store, watermark: float | None) -> list[str]:
    """Window ends (RFC 3339) the watermark has reached, oldest first."""
    if watermark is None:
        return []
    ends = {end for _, end, _ in _pending(store)}
    return sorted(end for end in ends if epoch_of(end) <= watermark)


def rounds(store: Store, end: str) -> dict[str, dict[GroupKey, float]]:
    """Per standard held at ``end``: every group's latest compliance as of ``end``."""
    held: dict[str, dict[GroupKey, float]] = {}
    for key, _, member in _pending(store, end):
        agency, service, channel, standard = member.split("|")
        held.setdefault(standard, {})[(agency, service, channel, standard)] = store[key][
            "compliance"
        ]
    out: dict[str, dict[GroupKey, float]] = {standard: {} for standard in held}
    for key, latest in list(store.items()):
        if key.startswith(PENDING):
            continue
        agency, service, channel, standard = key.split("|")
        if standard in out:
            out[standard][(agency, service, channel, standard)] = latest["compliance"]
    for standard, values in held.items():
        out[standard].update(values)
    return out


def settle(store: Store, end: str) -> None:
    """After ``end``'s rankings were sent: its finals become the latest values."""
    for key, _, member in _pending(store, end):
        store[member] = {"compliance": store.pop(key)["compliance"], "at": end}
