"""The fetch loop's delivery step without a task per record (streams.consumer_dispatch): it must
end as Faust's ``wait_first(delivery, suspend_flow.wait())`` would, in every way a delivery can
go: at once, after waiting, interrupted by a flow suspension, or failing."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from typing import Any

import pytest
from mode import Service

from servicepulse.streams import consumer_dispatch
from servicepulse.streams.consumer_dispatch import deliver, resume

FAUST_0_15_3_DRAIN_MESSAGES_SHA256 = (
    "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"
)


class FetchingService(Service):
    """What deliver needs of Faust's consumer: a mode service with a ``suspend_flow`` event."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()


async def test_a_delivery_that_does_not_wait_runs_in_place_without_a_task() -> None:
    service = FetchingService()
    delivered: list[int] = []

    async def delivery() -> None:
        delivered.append(1)

    tasks_before = len(asyncio.all_tasks())
    created: list[Any] = []
    loop = asyncio.get_running_loop()
    original_factory = loop.get_task_factory()

    def counting_factory(lp: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
        created.append(coro)
        return asyncio.Task(coro, loop=lp, **kw)

    loop.set_task_factory(counting_factory)
    try:
        await deliver(service, delivery())  # type: ignore[arg-type]
    finally:
        loop.set_task_factory(original_factory)
    assert delivered == [1]
    assert created == []
    assert len(asyncio.all_tasks()) == tasks_before


async def test_a_delivery_that_waits_is_resumed_with_what_it_waited_for() -> None:
    service = FetchingService()
    loop = asyncio.get_running_loop()
    space = loop.create_future()
    steps: list[str] = []

    async def delivery() -> None:
        steps.append("before")
        steps.append(await space)
        await asyncio.sleep(0)  # a bare yield, too
        steps.append("after")

    loop.call_later(0.01, space.set_result, "space")
    await asyncio.wait_for(deliver(service, delivery()), 5)  # type: ignore[arg-type]
    assert steps == ["before", "space", "after"]


async def test_the_exception_of_what_it_waited_for_is_raised_inside_the_delivery() -> None:
    service = FetchingService()
    loop = asyncio.get_running_loop()
    space = loop.create_future()
    seen: list[BaseException] = []

    async def delivery() -> None:
        try:
            await space
        except LookupError as exc:
            seen.append(exc)

    loop.call_later(0.01, space.set_exception, LookupError("gone"))
    await asyncio.wait_for(deliver(service, delivery()), 5)  # type: ignore[arg-type]
    assert [str(exc) for exc in seen] == ["gone"]


async def test_a_failing_delivery_raises_out_of_deliver_whether_or_not_it_waited() -> None:
    service = FetchingService()
    loop = asyncio.get_running_loop()
    space = loop.create_future()

    async def fails_at_once() -> None:
        raise ValueError("at once")

    async def fails_after_waiting() -> None:
        await space
        raise ValueError("after waiting")

    with pytest.raises(ValueError, match="at once"):
        await deliver(service, fails_at_once())  # type: ignore[arg-type]
    loop.call_later(0.01, space.set_result, None)
    with pytest.raises(ValueError, match="after waiting"):
        await asyncio.wait_for(deliver(service, fails_after_waiting()), 5)  # type: ignore[arg-type]


async def test_suspending_the_flow_interrupts_a_waiting_delivery_and_cancels_it() -> None:
    service = FetchingService()
    never = asyncio.get_running_loop().create_future()
    cleaned_up = asyncio.Event()

    async def blocked_delivery() -> None:
        try:
            await never  # a stream's buffer that stays full
        except asyncio.CancelledError:
            cleaned_up.set()
            raise

    asyncio.get_running_loop().call_later(0.01, service.suspend_flow.set)
    await asyncio.wait_for(deliver(service, blocked_delivery()), 5)  # type: ignore[arg-type]
    await asyncio.wait_for(cleaned_up.wait(), 5)
    assert never.cancelled()


async def test_a_delivery_that_is_not_a_coroutine_goes_through_wait_first() -> None:
    service = FetchingService()
    future = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.01, future.set_result, "done")
    await asyncio.wait_for(deliver(service, future), 5)  # type: ignore[arg-type]
    assert future.result() == "done"


async def test_a_cancel_that_comes_after_what_it_waited_for_is_still_thrown_in() -> None:
    # As for a task: cancelled after the future it waits on was done, but before it resumed.
    loop = asyncio.get_running_loop()
    space = loop.create_future()
    seen: list[str] = []

    async def delivery() -> None:
        try:
            await space
            seen.append("resumed")
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    coroutine = delivery()
    resumed = asyncio.ensure_future(resume(coroutine, coroutine.send(None)))
    await asyncio.sleep(0)  # the task now waits on the future
    space.set_result(None)
    resumed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await resumed
    assert seen == ["cancelled"]


def test_fausts_fetch_loop_is_still_the_one_copied() -> None:
    # consumer_dispatch replaces Faust's loop with a copy that differs in one line; with a Faust
    # whose loop differs it keeps Faust's (this test then fails: read it, copy it again).
    assert consumer_dispatch.faust_loop_is_the_copied_one()
    source = inspect.getsource(consumer_dispatch.FAUST_DRAIN_MESSAGES)
    assert hashlib.sha256(source.encode()).hexdigest() == FAUST_0_15_3_DRAIN_MESSAGES_SHA256
