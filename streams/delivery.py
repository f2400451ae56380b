"""Outputs before state, on the broker as well as in the code.

Every flow sends a record's outputs and only then writes the state that says the record was
handled, so a worker stopped in between re-emits the outputs on restart (downstream drops the
repeats: by event_id, by origin offset) instead of losing them. Sending is not delivering:
`topic.send` only queues the record, and aiokafka sends each partition's batches on their own
(one in flight per partition), so a changelog write queued after an output can reach the
broker first. Under kill -9 the restored state then says "done" for an output that never
arrived: an observation lost, a final window never sent. Awaiting the outputs' delivery before
the state write closes that hole. It costs one broker round trip per record with outputs (on
loopback, a few milliseconds); batching records would amortise it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import faust


class Outputs:
    """The outputs of one step; ``delivered`` returns once the broker acknowledged them all
    (and raises what a failed send raised, so the state is not written)."""

    def __init__(self) -> None:
        self._pending: list[Awaitable[Any]] = []

    async def send(
        self, topic: faust.TopicT, *, key: bytes | None, value: bytes,
        partition: int | None = None,
    ) -> None:  # fmt: skip
        self._pending.append(await topic.send(key=key, value=value, partition=partition))

    async def delivered(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
