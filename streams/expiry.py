"""Deleting table rows by event time, partition by partition.

A Faust table may only be written for the partition of the event being processed, so rows
are deleted from inside the agent loop, for that event's partition, once the partition's
event time (the latest seen on it) is `horizon` past the time each row was noted at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust

from servicepulse.processors.dedupe import ExpiryIndex

# (row value) -> the time it was noted at, or None if it is not waiting for expiry.
NotedAt = Callable[[Any], float | None]


class EventTimeExpiry:
    def __init__(
        self, app: faust.App, topic: str, table: Any, horizon_s: float, noted_at: NotedAt
    ) -> None:
        self.topic = topic
        self.table = table
        self.noted_at = noted_at
        self.index = ExpiryIndex(horizon_s)
        self.clock: dict[int, float] = {}
        app.on_partitions_revoked.connect(self._on_revoked)

    def _on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        for tp in args[0] if args else kwargs.get("revoked", ()):
            if tp.topic == self.topic:
                self.index.forget(tp.partition)

    def note(self, partition: int, key: str, at: float) -> None:
        self.index.note(partition, key, at)

    def advance(self, partition: int, at: float) -> float:
        """The partition's event time after an event at ``at``."""
        self.clock[partition] = max(self.clock.get(partition, at), at)
        return self.clock[partition]

    def now(self, partition: int | None) -> float:
        return self.clock.get(partition, 0.0) if partition is not None else 0.0

    def is_past_horizon(self, partition: int, at: float) -> bool:
        """True when a row noted at ``at`` is (or would be) deleted by ``expire``."""
        return at <= self.now(partition) - self.index.horizon_seconds

    def expire(self, partition: int) -> None:
        """Deletes the rows of ``partition`` noted more than the horizon ago (and not noted
        again since); called inside the agent loop with the current event's partition."""
        if not self.index.has(partition):
            # After a start or a rebalance: rebuild the queue from the restored table.
            self.index.rebuild(
                partition,
                (
                    (key, noted)
                    for key, value in self.table.items()
                    if value.get("p") == partition and (noted := self.noted_at(value)) is not None
                ),
            )
        for key, noted in self.index.expired(partition, self.now(partition)):
            value = self.table.get(key)
            if value is not None and self.noted_at(value) == noted:
                del self.table[key]
