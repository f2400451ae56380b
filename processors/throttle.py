"""Rate-limiting window updates: at most one message per window family per interval."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from math import inf
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


@dataclass
class UpdateThrottle(Generic[Key]):
    """Remembers which keys changed, the newest version of each, and when each was last
    emitted (wall-clock seconds).

    A key is a window family of one group and a version the start of a window in it: only the
    newest window of a family gets updates, so a replay racing through event time emits one
    update per family per interval, not one for every window it passed through.

    ``touch`` is called when a key changes; ``due`` when the caller is ready to emit, and
    returns the changed keys not emitted within the last ``interval_s`` with their newest
    version (marking them emitted).
    """

    interval_s: float
    _dirty: dict[Key, int] = field(default_factory=dict)
    _last: dict[Key, float] = field(default_factory=dict)

    def touch(self, key: Key, version: int = 0) -> None:
        if version >= self._dirty.get(key, version):
            self._dirty[key] = version

    def due(self, now: float) -> list[tuple[Key, int]]:
        ready = [
            (key, version)
            for key, version in self._dirty.items()
            if now - self._last.get(key, -inf) >= self.interval_s
        ]
        # An emission older than the interval no longer holds anything back: forget it, so
        # memory stays bounded by the keys emitted within one interval.
        self._last = {k: t for k, t in self._last.items() if now - t < self.interval_s}
        for key, _ in ready:
            del self._dirty[key]
            self._last[key] = now
        return ready

    def clear(self) -> None:
        self._dirty.clear()
        self._last.clear()

    def __len__(self) -> int:
        return len(self._dirty)
