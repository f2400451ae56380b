"""Bounded label values for metrics: unknown values beyond a cap fold into ``other``."""

from __future__ import annotations

OTHER = "other"


class BoundedLabelValues:
    """Admits the first ``cap`` distinct values of one label; later new values become "other".

    Prometheus keeps one series per label combination, so an unbounded label (a typo'd agency
    id from one publisher, say) would grow memory on every scraper without limit.
    """

    def __init__(self, cap: int = 100) -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1")
        self.cap = cap
        self._admitted: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._admitted:
            return value
        if len(self._admitted) < self.cap:
            self._admitted.add(value)
            return value
        return OTHER

    def __len__(self) -> int:
        return len(self._admitted)
