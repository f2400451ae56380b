"""Remembering event_ids for a horizon, so a redelivered event produces no second output.

The ids live in a changelog-backed table (the stream edge's); this module decides what is a
duplicate and which ids have outlived the horizon, per partition, in first-seen order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field


def is_duplicate(first_seen_at: float | None, now: float, horizon_seconds: float) -> bool:
    """True when the id was first seen less than ``horizon_seconds`` before ``now``."""
    return first_seen_at is not None and now - first_seen_at < horizon_seconds


@dataclass
class ExpiryIndex:
    """Per-partition queues of (first_seen_at, event_id), oldest first.

    Called on every new id (``note``) and periodically (``expired``); after a restart or a
    rebalance the queue of a partition is rebuilt from the table (``rebuild``) before use.
    """

    horizon_seconds: float
    _queues: dict[int, deque[tuple[float, str]]] = field(default_factory=dict)

    def has(self, partition: int) -> bool:
        return partition in self._queues

    def rebuild(self, partition: int, entries: Iterable[tuple[str, float]]) -> None:
        self._queues[partition] = deque(sorted((seen, key) for key, seen in entries))

    def forget(self, partition: int) -> None:
        self._queues.pop(partition, None)

    def note(self, partition: int, event_id: str, first_seen_at: float) -> None:
        self._queues.setdefault(partition, deque()).append((first_seen_at, event_id))

    def expired(self, partition: int, now: float) -> list[tuple[str, float]]:
        """Pops and returns (event_id, first_seen_at) older than the horizon."""
        queue = self._queues.get(partition)
        out: list[tuple[str, float]] = []
        cutoff = now - self.horizon_seconds
        while queue and queue[0][0] <= cutoff:
            seen, key = queue.popleft()
            out.append((key, seen))
        return out

    def size(self, partition: int) -> int:
        return len(self._queues.get(partition, ()))
