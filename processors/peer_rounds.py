"""Peer rankings by event time: a window end is ranked once the watermark has passed it.

Finals of the benchmark window come from every windows partition, each at its own pace. A
final waits under its window end; once the peers stage's watermark (the minimum over the
windows tasks, processors.watermarks) reaches that end, every final of that end has arrived,
and each standard is ranked once over every group's latest compliance as of that end. So a
replayed backlog ranks the same peers as a live feed did, whatever order partitions ran in.

Over a key-value store (the single-partition changelog table in the worker):

    pending|<window_end>               {standard: {"agency|service|channel": compliance}}
    <agency|service|channel|standard>  {"compliance": c, "at": window_end}   (latest)

A round's entry is rewritten with each final of its end; while earlier versions still wait
behind outputs, only the newest leaves for the changelog (streams.delivery).

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


def hold(store: Store, *finals: dict[str, Any]) -> None:
    """Finals of the benchmark window wait for their end to pass the watermark (each end's
    entry is written once per call)."""
    pending: dict[str, dict[str, dict[str, float]]] = {}
    for final in finals:
        if final.get("compliance") is None:
            continue  # insufficient data: nothing to rank
        key = PENDING + final["window_end"]
        if key not in pending:
            held = store.get(key) or {}
            pending[key] = {name: dict(groups) for name, groups in held.items()}
        group = "|".join((final["agency"], final["service"], final["channel"]))
        pending[key].setdefault(final["standard"], {})[group] = final["compliance"]
    for key, value in pending.items():
        store[key] = value


def due_ends(store: Store, watermark: float | None) -> list[str]:
    """Window ends (RFC 3339) the watermark has reached, oldest first."""
    if watermark is None:
        return []
    ends = [key.removeprefix(PENDING) for key in list(store.keys()) if key.startswith(PENDING)]
    return sorted(end for end in ends if epoch_of(end) <= watermark)


def rounds(store: Store, end: str) -> dict[str, dict[GroupKey, float]]:
    """Per standard held at ``end``: every group's latest compliance as of ``end``."""
    pending: dict[str, dict[str, float]] = store.get(PENDING + end) or {}
    out: dict[str, dict[GroupKey, float]] = {}
    for standard, held in pending.items():
        values: dict[GroupKey, float] = {}
        for key, latest in list(store.items()):
            if not key.startswith(PENDING) and key.endswith(f"|{standard}"):
                agency, service, channel, name = key.split("|")
                values[(agency, service, channel, name)] = latest["compliance"]
        for group, compliance in held.items():
            agency, service, channel = group.split("|")
            values[(agency, service, channel, standard)] = compliance
        out[standard] = values
    return out


def settle(store: Store, end: str) -> None:
    """After ``end``'s rankings were sent: its finals become the latest values, and only then
    is the round dropped. A stop among these writes leaves a prefix of them on the changelog;
    with the round still there, the restart ranks ``end`` again from the same values (the held
    ones win over the latest), where a round dropped first would lose the latest values."""
    pending: dict[str, dict[str, float]] = store.get(PENDING + end) or {}
    for standard, held in pending.items():
        for group, compliance in held.items():
            store[f"{group}|{standard}"] = {"compliance": compliance, "at": end}
    store.pop(PENDING + end, None)
