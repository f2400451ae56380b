"""The end of recovery seeks the input partitions before resuming them, and a fetch never asks
for an empty partition set (streams.recovery_handover).

``finish`` below does what Faust's ``Recovery.on_recovery_completed`` does, in Faust's order:
resume the input partitions, then seek them. The consumer records the order it is really
called in. The race this closes is run for real by the restart tests in tests/integration.
"""

from __future__ import annotations

from typing import Any

import pytest

from servicepulse.streams import recovery_handover
from servicepulse.streams.recovery_handover import _fetch_from_a_copy, _seek_first


class Consumer:
    def __init__(self, seek_fails: bool = False) -> None:
        self.calls: list[str] = []
        self.seek_fails = seek_fails

    def resume_partitions(self, tps: Any) -> None:
        self.calls.append(f"resume {sorted(tps)}")

    async def perform_seek(self) -> None:
        self.calls.append("seek")
        if self.seek_fails:
            raise TimeoutError("seek")


class App:
    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer


class Recovery:
    def __init__(self, consumer: Consumer) -> None:
        self.app = App(consumer)


async def faust_order(self: Any, generation_id: int = 0) -> None:
    consumer = self.app.consumer
    consumer.resume_partitions({"feedback.events-0", "feedback.events-1"})
    await consumer.perform_seek()
    consumer.calls.append("fetcher started")


async def no_assignment(self: Any, generation_id: int = 0) -> None:
    self.app.consumer.resume_partitions(set())


async def test_partitions_resume_only_after_the_seek() -> None:
    consumer = Consumer()
    await _seek_first(faust_order)(Recovery(consumer), 3)  # type: ignore[arg-type]
    assert consumer.calls == [
        "seek", "resume ['feedback.events-0', 'feedback.events-1']", "fetcher started",
    ]  # fmt: skip


async def test_the_consumer_is_left_as_it_was() -> None:
    consumer = Consumer()
    await _seek_first(faust_order)(Recovery(consumer), 3)  # type: ignore[arg-type]
    assert "resume_partitions" not in vars(consumer)
    assert "perform_seek" not in vars(consumer)


async def test_a_failed_seek_resumes_nothing() -> None:
    consumer = Consumer(seek_fails=True)
    with pytest.raises(TimeoutError):
        await _seek_first(faust_order)(Recovery(consumer), 3)  # type: ignore[arg-type]
    assert consumer.calls == ["seek"]
    assert "perform_seek" not in vars(consumer)


async def test_without_a_seek_the_resume_still_happens() -> None:
    consumer = Consumer()
    await _seek_first(no_assignment)(Recovery(consumer), 3)  # type: ignore[arg-type]
    assert consumer.calls == ["resume []"]


async def fetch_as_aiokafka(
    self: Any, consumer: Any, partitions: set[str] | None, timeout: float | None = None,
    max_records: int | None = None,
) -> dict[str, list[int]]:  # fmt: skip
    """aiokafka's rule: an empty set returns every partition's records. While it waits, the
    caller's set changes (recovery pauses the changelogs)."""
    consumer.live.clear()
    return {tp: [7] for tp in consumer.buffered if not partitions or tp in partitions}


class Fetching:
    def __init__(self, live: set[str]) -> None:
        self.live = live
        self.buffered = ["feedback.events-0", "changelog-0"]


async def test_a_fetch_keeps_the_partitions_it_started_with() -> None:
    consumer = Fetching({"changelog-0"})
    got = await _fetch_from_a_copy(fetch_as_aiokafka)(None, consumer, consumer.live, timeout=1.0)
    assert got == {"changelog-0": [7]}


async def test_an_empty_set_fetches_nothing() -> None:
    consumer = Fetching(set())
    assert await _fetch_from_a_copy(fetch_as_aiokafka)(None, consumer, consumer.live) == {}


async def test_no_set_at_all_still_means_every_partition() -> None:
    """Faust passes None for a client-only app, which reads every partition."""
    consumer = Fetching(set())
    got = await _fetch_from_a_copy(fetch_as_aiokafka)(None, consumer, None)
    assert got == {"feedback.events-0": [7], "changelog-0": [7]}


def test_the_patched_faust_methods_are_still_the_reviewed_ones() -> None:
    # The patches were written against faust-streaming 0.15.3; with a Faust whose methods
    # differ the worker warns and this fails: read the new methods, then update the hashes.
    assert recovery_handover.unreviewed_methods() == []


def test_a_changed_method_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(recovery_handover.REVIEWED_SOURCES, "Recovery._resume_streams", "0" * 64)
    assert recovery_handover.unreviewed_methods() == ["Recovery._resume_streams"]
