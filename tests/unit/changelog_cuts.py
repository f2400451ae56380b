"""A store that logs its writes as a changelog would, and what a restart restores from any
prefix of that log: for tests that stop a worker at every point of a step's writes."""

from __future__ import annotations

from typing import Any


class RecordingStore(dict[str, Any]):
    """A dict whose writes and deletions (value None) are logged in order."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.log: list[tuple[str, Any]] = []

    def __setitem__(self, key: str, value: Any) -> None:
        self.log.append((key, value))
        super().__setitem__(key, value)

    def pop(self, key: str, *default: Any) -> Any:
        self.log.append((key, None))
        return super().pop(key, *default)


def restored(before: dict[str, Any], writes: list[tuple[str, Any]]) -> dict[str, Any]:
    """``before`` with ``writes`` (a prefix of a RecordingStore's log) applied in order."""
    state = dict(before)
    for key, value in writes:
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    return state
