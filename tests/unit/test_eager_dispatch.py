"""The fetch loop's hand-over runs at once and keeps Faust's race against a suspended flow."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mode import Service
from mode.utils.locks import Event

from servicepulse.streams.eager_dispatch import _eager


class Fetching(Service):
    """What the patched method needs of Faust's Consumer: a mode Service and suspend_flow."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = Event()
        self.original_calls = 0

    async def original(self, *coros: Any, timeout: Any = None) -> Any:
        self.original_calls += 1
        return await Service.wait_first(self, *coros, timeout=timeout)


async def wait_first(fetching: Fetching, *coros: Any) -> Any:
    eager = _eager(Fetching.original)
    return await eager(fetching, *coros)


async def test_a_hand_over_that_does_not_suspend_finishes_without_faust_s_wait() -> None:
    fetching, handled = Fetching(), []

    async def hand_over() -> str:
        handled.append("m1")
        return "queued"

    tasks_before = len(asyncio.all_tasks())
    results = await wait_first(fetching, hand_over(), fetching.suspend_flow.wait())
    assert handled == ["m1"]
    assert results.results == ["queued"] and not results.stopped
    assert fetching.original_calls == 0
    assert len(asyncio.all_tasks()) == tasks_before


async def test_a_hand_over_that_suspends_finishes_through_faust_s_wait() -> None:
    fetching = Fetching()
    room = asyncio.get_running_loop().create_future()

    async def hand_over() -> str:
        await room  # a full queue
        return "queued after waiting"

    waiting = asyncio.ensure_future(
        wait_first(fetching, hand_over(), fetching.suspend_flow.wait())
    )
    await asyncio.sleep(0.01)
    assert not waiting.done()
    room.set_result(None)
    results = await waiting
    assert "queued after waiting" in results.results
    assert fetching.original_calls == 1


async def test_a_rebalance_still_interrupts_a_blocked_hand_over() -> None:
    fetching, outcome = Fetching(), []
    never = asyncio.get_running_loop().create_future()

    async def hand_over() -> None:
        try:
            await never
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    waiting = asyncio.ensure_future(
        wait_first(fetching, hand_over(), fetching.suspend_flow.wait())
    )
    await asyncio.sleep(0.01)
    fetching.suspend_flow.set()
    await asyncio.wait_for(waiting, 1.0)
    await asyncio.sleep(0)
    assert outcome == ["cancelled"]


async def test_with_flow_suspended_the_hand_over_takes_faust_s_path() -> None:
    fetching = Fetching()
    fetching.suspend_flow.set()

    async def hand_over() -> str:
        return "queued"

    await wait_first(fetching, hand_over(), fetching.suspend_flow.wait())
    assert fetching.original_calls == 1


async def test_an_error_in_the_hand_over_reaches_the_fetch_loop() -> None:
    fetching = Fetching()

    async def hand_over() -> None:
        raise ValueError("undecodable")

    with pytest.raises(ValueError, match="undecodable"):
        await wait_first(fetching, hand_over(), fetching.suspend_flow.wait())
