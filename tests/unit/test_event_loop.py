"""streams.event_loop: uvloop by default, asyncio's own on request, a clear error without uvloop."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from servicepulse.streams.event_loop import EventLoopKind, EventLoopUnavailable, new_event_loop
from servicepulse.streams.startup import EXIT_CONFIGURATION


@pytest.mark.parametrize(("kind", "loop_type"), [("uvloop", uvloop.Loop), ("asyncio", None)])
def test_the_setting_picks_the_loop(kind: EventLoopKind, loop_type: type | None) -> None:
    loop = new_event_loop(kind)
    try:
        if loop_type is None:
            assert not isinstance(loop, uvloop.Loop)
            assert isinstance(loop, asyncio.BaseEventLoop)
        else:
            assert isinstance(loop, loop_type)
        # Either runs a coroutine to the end.
        assert loop.run_until_complete(asyncio.sleep(0, result="ran")) == "ran"
    finally:
        loop.close()


def test_uvloop_missing_is_a_startup_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    with pytest.raises(EventLoopUnavailable) as info:
        new_event_loop("uvloop")
    assert "SERVICEPULSE_EVENT_LOOP=uvloop" in str(info.value)
    assert "SERVICEPULSE_EVENT_LOOP=asyncio" in str(info.value)
    assert info.value.exit_code == EXIT_CONFIGURATION
