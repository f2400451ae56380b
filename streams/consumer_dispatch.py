"""Faust hands each fetched record to its streams without four tasks per record.

Faust's fetch loop (``Consumer._drain_messages``) delivers every record with
``await self.wait_first(callback(message), self.suspend_flow.wait())``. mode's ``wait_first``
wraps each of those and the consumer's ``stopped`` and ``crashed`` events in a task of its own,
waits for the first to finish and cancels the other three: four tasks, an ``asyncio.wait`` and
three cancellations for every record, though delivery (the conductor putting the record on its
streams' queues) nearly always finishes without waiting at all. On a bare Faust hop, doing
without them halved the CPU per record (``benchmarks/bench_faust_hop.py``: 8,758 → 18,335
records per CPU-second, session 9).

Here the delivery coroutine is stepped in place first. When it finishes without suspending,
the record was delivered, exactly as if its task had won ``wait_first`` (a delivery that does
not suspend always wins there too: its task runs first). When it suspends (a stream's buffer
is full, or flow is being suspended for a rebalance), the rest of it runs under Faust's own
``wait_first`` as before, so a suspended flow, a stop or a crash still interrupts it.

Once a fetch's records are all handed over, the hooks registered with ``after_each_fetch`` run
(streams.batching sends what ingest gathered from them). The loop is otherwise Faust 0.15.3's,
line for line, and replaces Faust's only where Faust's is that one (its source's hash is
checked).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from types import CoroutineType
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from mode import Service

from servicepulse.streams.faust_source import source_sha256

# Faust's own loop, and the hash of its source in faust-streaming 0.15.3, the loop copied below.
# A Faust whose loop differs keeps its own (install logs why): an upgrade that changes the
# loop must be read and copied again, not silently overridden.
FAUST_DRAIN_MESSAGES = Consumer._drain_messages
COPIED_DRAIN_MESSAGES_SHA256 = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"
log = logging.getLogger(__name__)
_installed = False

FetchHook = Callable[[], Awaitable[None]]


def after_each_fetch(app: Any, hook: FetchHook) -> None:
    """``hook`` runs each time the consumer has handed a fetch's records to the agents (with
    Faust's own fetch loop, kept when it is not the copied one, it never runs)."""
    hooks: list[FetchHook] | None = getattr(app, "_servicepulse_after_fetch", None)
    if hooks is None:
        hooks = []
        app._servicepulse_after_fetch = hooks
    hooks.append(hook)


class _Reyield:
    """Yields to the task running ``resume`` what the stepped coroutine yielded to its
    driver: a future it waits on, or None for a bare yield (``asyncio.sleep(0)``)."""

    __slots__ = ("yielded",)

    def __init__(self, yielded: Any) -> None:
        self.yielded = yielded

    def __await__(self) -> Generator[Any, None, None]:
        yield self.yielded


async def resume(coroutine: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    """Run the rest of ``coroutine``, which has just yielded ``yielded`` to its driver, as a
    task would have: resume it when what it waits on is done, and pass cancellation in."""
    while True:
        throw: BaseException | None = None
        try:
            await _Reyield(yielded)
        except asyncio.CancelledError as cancelled:
            # This task was cancelled. When that cancelled the future the coroutine waits on,
            # resuming it raises CancelledError inside it; otherwise it must be thrown in.
            if yielded is None or not yielded.cancelled():
                throw = cancelled
        except BaseException:  # the awaited future's own exception, which the coroutine
            pass  # reads from the future when resumed
        try:
            yielded = coroutine.send(None) if throw is None else coroutine.throw(throw)
        except StopIteration as stop:
            return stop.value


async def deliver(consumer: Consumer, delivery: Awaitable[Any]) -> None:
    """What ``await consumer.wait_first(delivery, consumer.suspend_flow.wait())`` does, without
    any task when ``delivery`` is a coroutine that does not suspend."""
    service = cast(Service, consumer)
    if type(delivery) is not CoroutineType:
        await service.wait_first(delivery, consumer.suspend_flow.wait())
        return
    try:
        yielded = delivery.send(None)
    except StopIteration:
        # Let the agents run before the next record, as Faust's delivery task did: a fetch
        # loop that runs ahead fills the streams' buffers until Faust pauses their partitions.
        await asyncio.sleep(0)
        return
    await service.wait_first(resume(delivery, yielded), consumer.suspend_flow.wait())


async def _drain_messages(self: Consumer, fetcher: Any) -> None:  # pragma: no cover
    # Faust 0.15.3's Consumer._drain_messages; only the delivery line and the hooks differ.
    callback = self.callback
    after_fetch: list[FetchHook] = getattr(self.app, "_servicepulse_after_fetch", [])
    getmany = self.getmany
    consumer_should_stop = cast(Service, self)._stopped.is_set
    fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    flag_consumer_fetching = CONSUMER_FETCHING
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for

    yield_every = 100
    num_since_yield = 0
    sleep = asyncio.sleep

    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag_consumer_fetching)
            ait = cast(AsyncIterator[Any], getmany(timeout=1.0))

            # Sleeping because sometimes getmany is called in a loop
            # never releasing to the event loop
            await self.sleep(0)
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0

                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        # We have a gap in income messages
                        if gap > 1 and r_offset:
                            acks_enabled = acks_enabled_for(message.topic)
                            if acks_enabled:
                                await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        await deliver(self, callback(message))
                        set_read_offset(tp, offset)
                    else:
                        self.log.dev(
                            "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                            offset,
                            message.key,
                            message.value,
                        )
                for hook in after_fetch:
                    await hook()
                unset_flag(flag_consumer_fetching)

    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(flag_consumer_fetching)


def faust_loop_is_the_copied_one() -> bool:
    return source_sha256(FAUST_DRAIN_MESSAGES) == COPIED_DRAIN_MESSAGES_SHA256


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    if not faust_loop_is_the_copied_one():
        log.warning(
            "Faust's Consumer._drain_messages is not faust-streaming 0.15.3's: keeping Faust's "
            "own fetch loop (four tasks per record) instead of servicepulse's copy"
        )
        return
    Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]
