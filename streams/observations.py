"""Observations leave for the standard-windows stage keyed by group: one record for what an
upstream record measured in a group, not one per standard, since every record costs each hop
its fetch, dispatch and acknowledgement."""

from __future__ import annotations

from collections.abc import Iterable

import faust

from servicepulse.processors import envelope
from servicepulse.processors.cases import Observation
from servicepulse.processors.records import SourcePosition
from servicepulse.processors.window_engine import group_key
from servicepulse.streams.delivery import HeldWrites


async def send_observations(
    held: HeldWrites, topic: faust.TopicT, found: Iterable[Observation], event_id: str,
    origin: SourcePosition,
) -> None:  # fmt: skip
    """Sent through ``held``: the state written after this waits for their delivery."""
    for record in envelope.observation_records(found, event_id, origin):
        first = record.observations[0]
        key = group_key(first.agency, first.service, first.channel).encode()
        await held.send(topic, key=key, value=envelope.encode(record))
