"""Faust's consumer hands each fetched record to the agents' queues without four tasks per record.

Faust's fetch loop (``Consumer._drain_messages``) passes every record to the conductor with
``await self.wait_first(callback(message), self.suspend_flow.wait())``, so that a rebalance
(which sets ``suspend_flow``) interrupts a hand-over blocked on a full queue. ``wait_first``
wraps each of the two, plus the consumer's stopped and crashed events, in a task and waits on
the four: per record, whether the hand-over blocks or not. It almost never blocks (Faust stops
fetching a partition well before its queue is full), and those tasks and their cancellation
were a quarter of a bare Faust passthrough's CPU (``py-spy`` on a one-agent consume → send
loop; see benchmarks/README.md).

Here the hand-over runs at once, in the fetch loop's task, up to its first suspension: if it
finishes there, as it does unless a queue is full or flow is stopped, nothing else is created.
If it suspends, the rest of it races the same events as before, through Faust's own
``wait_first``. Flow already suspended or the consumer stopping: Faust's path unchanged.
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

from faust.transport.consumer import Consumer
from mode.services import WaitResults

WaitFirst = Callable[..., Awaitable[WaitResults]]

_installed = False


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], pending: Any) -> Generator[Any, Any, Any]:
    """The rest of ``coro``, which suspended on ``pending``: driven as ``await`` drives it."""
    try:
        while True:
            try:
                yield pending
            except BaseException as exc:  # cancellation and errors go into the coroutine
                pending = coro.throw(exc)
            else:
                pending = coro.send(None)
    except StopIteration as stop:
        return stop.value


def _eager(wait_first: WaitFirst) -> WaitFirst:
    async def eager_wait_first(self: Any, *coros: Any, timeout: Any = None) -> WaitResults:
        blocked = self.suspend_flow.is_set() or self._stopped.is_set() or self._crashed.is_set()
        if len(coros) != 2 or not isinstance(coros[0], types.CoroutineType) or blocked:
            return await wait_first(self, *coros, timeout=timeout)
        handover, suspended = coros
        try:
            pending = handover.send(None)
        except StopIteration as done:
            suspended.close()
            return WaitResults([handover], [done.value], False)
        except BaseException:
            suspended.close()
            raise

        async def rest() -> Any:
            return await _resume(handover, pending)

        return await wait_first(self, rest(), suspended, timeout=timeout)

    return eager_wait_first


def install() -> None:
    """Idempotent. ``Consumer.wait_first`` has one caller in Faust: the fetch loop above."""
    global _installed
    if not _installed:
        Consumer.wait_first = _eager(Consumer.wait_first)  # type: ignore[method-assign,assignment]
        _installed = True
