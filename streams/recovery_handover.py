"""Two Faust defects at the hand-over from table recovery to processing, which lose records.

Found with the worker's state dump (streams.diagnose) and Faust's own offsets logged, on
workers started on existing state while events arrive (tests/integration: the poison-pill,
redelivery and kill -9 tests failed about one run in four with two runs at a time; the full
suite failed two runs of four and CI once). Both are in Faust, so on any broker.

**An empty partition set means "every partition".** Faust's fetcher hands aiokafka its *live*
set of active partitions and filters what comes back against the same set. aiokafka treats an
empty set as "return every partition's records". At the end of recovery the set is empty for a
moment: the changelog partitions are paused, the input partitions not yet resumed. A fetch
waiting across that moment returns the input partitions' records, aiokafka moves past them,
and Faust drops them because they are not active. Faust then sees the next record's offset jump
and takes the skipped ones as done: it commits past records no agent handled (scored events
missing, 22 of 200 in one run), or, when its own bookkeeping is off by the rewind below, stops
committing that partition for good (a restarted worker idle with every record fetched). Here
each fetch gets a copy of the set taken when it starts, and an empty one fetches nothing.

**Resumed before sought.** ``Recovery.on_recovery_completed`` resumes the input partitions and
only then seeks them to their committed offsets and resets its read and committed offsets.
Records fetched in between reach the agents and are then read a second time, under offsets
that were rewound beneath them. Here the resume waits until the seek has finished.

Both are written against faust-streaming 0.15.3's methods. Each patched method's source is
checked against 0.15.3's at install: a Faust whose methods differ gets a warning naming them
(the patches still go on: they only reorder calls and copy a set), and the unit test pinning
the same hashes fails, so an upgrade is read before it lands.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from servicepulse.streams.faust_source import source_sha256

# Recovery.on_recovery_completed and Recovery._resume_streams
Finish = Callable[[Recovery, int], Coroutine[Any, Any, None]]

log = logging.getLogger(__name__)

# The sha256 of each patched method's source in faust-streaming 0.15.3.
REVIEWED_SOURCES = {
    "Recovery.on_recovery_completed":
        "6ef567acf072e46da3fccbccc6d662371f634f622c3d510972d5df81f70ae3ac",
    "Recovery._resume_streams":
        "d986a6710c1aca98f08c4c723fb3eadc5bf24576ad4eb9da3dd3eecedda2f24e",
    "AIOKafkaConsumerThread._fetch_records":
        "39a2c6c79fc1455a199629912b533458a720c64983bc957420a42feef6593baa",
}  # fmt: skip

# Faust's own, taken before install() replaces them.
_FAUST_METHODS: dict[str, Callable[..., Any]] = {
    "Recovery.on_recovery_completed": Recovery.on_recovery_completed,
    "Recovery._resume_streams": Recovery._resume_streams,
    "AIOKafkaConsumerThread._fetch_records": AIOKafkaConsumerThread._fetch_records,
}

_installed = False


def unreviewed_methods() -> list[str]:
    """The patched Faust methods whose source is not the one these patches were written for."""
    return [
        name for name, method in _FAUST_METHODS.items()
        if source_sha256(method) != REVIEWED_SOURCES[name]
    ]  # fmt: skip


def _seek_first(finish: Finish) -> Finish:
    async def finish_with_seek_first(self: Recovery, generation_id: int = 0) -> None:
        consumer: Any = self.app.consumer
        resume: Callable[[Iterable[Any]], None] = consumer.resume_partitions
        seek: Callable[[], Awaitable[None]] = consumer.perform_seek
        held_back: list[set[Any]] = []
        seeking = False

        def resume_after_seek(tps: Iterable[Any]) -> None:
            held_back.append(set(tps))

        def resume_held_back() -> None:
            while held_back:
                resume(held_back.pop(0))

        async def seek_then_resume() -> None:
            nonlocal seeking
            seeking = True
            await seek()
            resume_held_back()

        consumer.resume_partitions = resume_after_seek
        consumer.perform_seek = seek_then_resume
        try:
            await finish(self, generation_id)
        finally:
            del consumer.resume_partitions, consumer.perform_seek
            # A seek that failed leaves them paused: the rebalance that follows resumes them.
            if not seeking:  # an empty assignment: no seek to wait for
                resume_held_back()

    return finish_with_seek_first


def _fetch_from_a_copy(fetch: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def fetch_records(
        self: Any, consumer: Any, active_partitions: Iterable[Any] | None,
        timeout: float | None = None, max_records: int | None = None,
    ) -> Any:  # fmt: skip
        if active_partitions is None:  # a client-only app: every partition, as Faust meant
            return await fetch(self, consumer, None, timeout=timeout, max_records=max_records)
        partitions = set(active_partitions)
        if not partitions:
            return {}
        return await fetch(self, consumer, partitions, timeout=timeout, max_records=max_records)

    return fetch_records


def install() -> None:
    """Patches Faust once per process: both ways its recovery ends (with tables, and without
    any) resume the input partitions only after seeking them; every fetch asks for a fixed,
    non-empty set of partitions."""
    global _installed
    if _installed:
        return
    _installed = True
    changed = unreviewed_methods()
    if changed:
        log.warning(
            "Faust's %s differ from faust-streaming 0.15.3's, which servicepulse's recovery "
            "hand-over patches were written for: check streams/recovery_handover.py against them",
            ", ".join(changed),
        )
    Recovery.on_recovery_completed = _seek_first(  # type: ignore[method-assign,assignment]
        _FAUST_METHODS["Recovery.on_recovery_completed"]
    )
    Recovery._resume_streams = _seek_first(  # type: ignore[method-assign,assignment]
        _FAUST_METHODS["Recovery._resume_streams"]
    )
    AIOKafkaConsumerThread._fetch_records = _fetch_from_a_copy(  # type: ignore[method-assign,assignment]
        _FAUST_METHODS["AIOKafkaConsumerThread._fetch_records"]
    )
