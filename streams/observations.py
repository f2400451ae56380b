"""Observations leave for the standard-windows stage keyed by group: one observation record
for what an upstream record measured in a group, not one per standard, gathered with the other
records bound for the same partition into one record (streams.batching), since every record
costs each hop its fetch, dispatch and acknowledgement."""

from __future__ import annotations

from collections.abc import Iterable

import faust

from servicepulse.processors import envelope
from servicepulse.processors.cases import Observation
from servicepulse.processors.records import SourcePosition
from servicepulse.processors.window_engine import group_key
from servicepulse.streams.batching import Batches


async def send_observations(
    batches: Batches, topic: faust.TopicT, partitions: int,
    found: Iterable[Observation], event_id: str, origin: SourcePosition,
) -> None:  # fmt: skip
    """The state written after this waits for their delivery (``batches`` has the worker's
    held writes follow the records that carry them)."""
    for record in envelope.observation_records(found, event_id, origin):
        first = record.observations[0]
        key = group_key(first.agency, first.service, first.channel).encode()
        await batches.add(topic, partitions, key, envelope.encode(record))
