"""The worker's collector thresholds (streams.collector)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from servicepulse.streams import collector


@pytest.fixture(autouse=True)
def _restore_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_young_generation_is_collected_at_the_setting() -> None:
    _, middle, old = gc.get_threshold()
    collector.tune(50_000)
    assert gc.get_threshold() == (50_000, middle, old)


def test_fewer_young_collections_for_the_same_allocations() -> None:
    """A thousand short-lived containers per 'record', as a worker makes: the tuned collector
    runs its young generation a small fraction as often as Python's default."""

    def young_collections(threshold: int) -> int:
        collector.tune(threshold)
        runs = 0

        def count(phase: str, info: dict[str, int]) -> None:
            nonlocal runs
            if phase == "start" and info["generation"] == 0:
                runs += 1

        gc.collect()
        gc.callbacks.append(count)
        try:
            kept = []
            for record in range(200):
                kept.append([{"record": record, "field": index} for index in range(1_000)])
                if len(kept) > 2:
                    kept.pop(0)
        finally:
            gc.callbacks.remove(count)
        return runs

    default, tuned = young_collections(700), young_collections(50_000)
    assert default > 100
    assert tuned * 20 < default
