"""The worker's event loop: uvloop unless SERVICEPULSE_EVENT_LOOP says asyncio.

Every record the worker reads or writes passes through the event loop several times (fetch
responses, producer futures and their callbacks, timers), once per hop of an event. uvloop
(libuv, in Cython) runs those callbacks and its socket transports with less interpreter work
than asyncio's pure-Python loop; `benchmarks/README.md` has the side-by-side figures. asyncio's
own loop stays one setting away, for a platform uvloop does not support (Windows) or to rule
the loop out when diagnosing.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from servicepulse.streams.startup import StartupError

EventLoopKind = Literal["uvloop", "asyncio"]


class EventLoopUnavailable(StartupError):
    """SERVICEPULSE_EVENT_LOOP names a loop this installation does not have."""


def new_event_loop(kind: EventLoopKind) -> asyncio.AbstractEventLoop:
    if kind == "asyncio":
        return asyncio.new_event_loop()
    try:
        import uvloop
    except ImportError as err:
        raise EventLoopUnavailable(
            f"SERVICEPULSE_EVENT_LOOP=uvloop, but uvloop cannot be imported ({err}); "
            "install it (pip install uvloop) or set SERVICEPULSE_EVENT_LOOP=asyncio"
        ) from err
    return uvloop.new_event_loop()
