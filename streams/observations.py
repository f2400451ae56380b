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
from servicepulse.streams import topology
from servicepulse.streams.batching import observation_batches
from servicepulse.streams.settings import Settings


class ObservationSender:
    """How scoring, case correlation and journeys send observations to the windows stage."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.topic = topology.topic(app, settings, topology.OBSERVATIONS_BY_GROUP)
        self.partitions = settings.partitions
        self._batches = observation_batches(app)
        # What the stage's watermark records must follow (StageWatermarks(before_send=...)).
        self.flush = self._batches.flush

    @property
    def destination(self) -> tuple[faust.TopicT, int]:
        """The topic and its partition count, as StageWatermarks takes its outputs."""
        return self.topic, self.partitions

    async def send(
        self, found: Iterable[Observation], event_id: str, origin: SourcePosition
    ) -> None:
        """The state written after this waits for their delivery (the gatherer has the
        worker's held writes follow the records that carry them)."""
        for record in envelope.observation_records(found, event_id, origin):
            first = record.observations[0]
            key = group_key(first.agency, first.service, first.channel).encode()
            await self._batches.add(self.topic, self.partitions, key, envelope.encode(record))
