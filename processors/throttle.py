"""Rate-limiting window updates: at most one message per window per interval."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from math import inf
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


@dataclass
class UpdateThrottle(Generic[Key]):
    """Remembers which keys changed and when each was last emitted (wall-clock seconds).

    ``touch`` is called when a key changes; ``due`` when the caller is ready to emit, and
    returns the changed keys not emitted within the last ``interval_s`` (marking them emitted).
    """

    interval_s: float
    _dirty: set[Key] = field(default_factory=set)
    _last: dict[Key, float] = field(default_factory=dict)

    def touch(self, key: Key) -> None:
        self._dirty.add(key)

    def due(self, now: float) -> list[Key]:
        ready = [key for key in self._dirty if now - self._last.get(key, -inf) >= self.interval_s]
        # An emission older than the interval no longer holds anything back: forget it, so
        # memory stays bounded by the keys emitted within one interval.
        self._last = {k: t for k, t in self._last.items() if now - t < self.interval_s}
        for key in ready:
            self._dirty.discard(key)
            self._last[key] = now
        return ready

    def clear(self) -> None:
        self._dirty.clear()
        self._last.clear()

    def __len__(self) -> int:
        return len(self._dirty)
