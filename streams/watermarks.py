"""Carrying watermarks from stage to stage (the arithmetic is processors.watermarks).

    interaction.events:j ─ingest─▶ data… wm ─▶ every partition of <app>-interactions-by-case-id
                                                and of <app>-events-by-customer
    <app>-interactions-by-case-id:k ─correlate-cases─▶ data… wm ─▶ every partition of
                                                <app>-observations-by-group
    (feedback: ingest ─▶ score-feedback ─▶ observations; journeys likewise)
    <app>-observations-by-group:p ─standard-windows─▶ finals… wm ─▶ <app>-benchmark-inputs
                                                and every partition of <app>-daily-by-service

Each stage task (one assigned input partition of one agent) keeps a tracker of its upstream
channels; every `watermark_interval_seconds` it sends its output watermark, as a watermark
record, to every partition of each topic it writes (when it has not changed, or the task is
idle, only every third of the idle timeout: enough for downstream never to take a live task
for an idle one). One producer
sends a task's data and its watermark records, so in each partition the data a watermark
covers comes before it. The traffic is bounded per interval, whatever the event rate: at most
tasks × downstream partitions.

A source (ingest) task's only channel is its input partition: the latest event time read
from it less the grace. It is idle after `idle_timeout_seconds` without a record, but counts
as heard while the consumer still has records to read from it (or has not fetched it yet),
so a partition waiting behind a busy consumer or a recovery is never taken for an idle one.
Downstream, a channel is idle only while its task says so.

Intermediate trackers live in memory: after a restart or a rebalance a task starts again
from its upstream's watermark records, and downstream never lowers a channel's watermark,
so what was promised before still holds. The windows stage, the last, keeps its channels'
watermarks in its changelog (processors.window_engine), even while a slower channel holds its
own back: a source restarted with nothing left to read knows no event time, and would never
say again what it promised before.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.exceptions import NotReady
from faust.types import TP

from servicepulse.processors import envelope
from servicepulse.processors.watermarks import Watermark, WatermarkTracker
from servicepulse.streams import topology
from servicepulse.streams.settings import Settings


def channels_of(topics: list[str], partitions: int) -> tuple[str, ...]:
    """The upstream tasks reading ``topics``, as named in watermark and data records."""
    return tuple(f"{topic}:{partition}" for topic in topics for partition in range(partitions))


def check_channel(channel: str, upstream: tuple[str, ...]) -> None:
    """A watermark record must come from a task reading one of the upstream topics: one from
    anywhere else would join the minimum and, never idle, hold it back for good. (Any
    partition of such a topic counts: an input topic may have more than configured.)"""
    topic, _, partition = channel.rpartition(":")
    if topic not in _topics_of(upstream) or not partition.isdigit():
        raise envelope.UnreadableRecord(
            f"watermark record from {channel!r:.60}, not an upstream task"
        )


@functools.cache
def _topics_of(upstream: tuple[str, ...]) -> frozenset[str]:
    """Worked out once per stage, not for every watermark record."""
    return frozenset(name.rpartition(":")[0] for name in upstream)


def stages(app: faust.App) -> list[StageWatermarks]:
    """The worker's stage watermarks, each added as it is built (for streams.health)."""
    found: list[StageWatermarks] | None = getattr(app, "_servicepulse_stages", None)
    if found is None:
        found = []
        app._servicepulse_stages = found  # type: ignore[attr-defined]
    return found


class StageWatermarks:
    def __init__(
        self, app: faust.App, settings: Settings, input_topic: str,
        outputs: list[tuple[faust.TopicT, int]], upstream: tuple[str, ...] | None,
        mark_of: Callable[[int, float], Watermark] | None = None,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> None:  # fmt: skip
        """``outputs``: (topic, partition count) pairs; ``upstream`` None for a source;
        ``mark_of`` (partition, now) for a stage that keeps its watermark itself;
        ``before_send``: sends what the stage's agent gathered and has not sent yet (a
        watermark must follow the records it covers)."""
        self.app = app
        self.settings = settings
        self.input_topic = input_topic
        self.outputs = outputs
        self.upstream = upstream
        self.mark_of = mark_of
        self.before_send = before_send
        self.trackers: dict[int, WatermarkTracker] = {}
        self.read_to: dict[int, int] = {}
        self.last_sent: dict[int, tuple[Watermark, float]] = {}
        # The latest output watermark per owned partition, as computed here (read, never
        # recomputed, by the metrics in streams.health).
        self.marks: dict[int, Watermark] = {}
        self.heartbeat_s = settings.idle_timeout_seconds / 3
        app.on_partitions_revoked.connect(self._on_revoked)
        stages(app).append(self)

        async def send_watermarks() -> None:
            await self.send()

        send_watermarks.__name__ = f"send_watermarks_{input_topic}"
        app.timer(settings.watermark_interval_seconds)(send_watermarks)

    @classmethod
    def fed_by_windows(cls, app: faust.App, settings: Settings, input_topic: str
                       ) -> StageWatermarks:  # fmt: skip
        """A stage reading the windows stage's finals: tracks its watermark, sends none."""
        windows = topology.STANDARD_WINDOWS.source.name(settings)
        return cls(app, settings, input_topic, [], channels_of([windows], settings.partitions))

    def _on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        for tp in args[0] if args else kwargs.get("revoked", ()):
            if tp.topic == self.input_topic:
                self.trackers.pop(tp.partition, None)
                self.read_to.pop(tp.partition, None)
                self.last_sent.pop(tp.partition, None)
                self.marks.pop(tp.partition, None)

    def tracker(self, partition: int) -> WatermarkTracker:
        tracker = self.trackers.get(partition)
        if tracker is None:
            channels = self.upstream or (f"{self.input_topic}:{partition}",)
            # Sources judge idleness by silence; downstream, upstream tasks say so themselves.
            timeout = self.settings.idle_timeout_seconds if self.upstream is None else None
            tracker = WatermarkTracker(channels, self.settings.grace_seconds, timeout, time.time())
            self.trackers[partition] = tracker
        return tracker

    def observe_read(self, message: Any) -> None:
        self.read_to[message.partition] = message.offset

    def observe_event(self, message: Any, event_time: float) -> None:
        """A source record, called once its outputs were sent."""
        self.observe_read(message)
        channel = f"{self.input_topic}:{message.partition}"
        self.tracker(message.partition).observe_event(channel, event_time, time.time())

    def observe(self, partition: int, record: envelope.InternalRecord) -> bool:
        """True (and noted) if the decoded record is an upstream watermark, not data."""
        if not isinstance(record, envelope.WatermarkRecord):
            return False
        check_channel(record.channel, self.upstream or ())
        mark = record.mark
        self.tracker(partition).observe_watermark(
            record.channel, mark.value, mark.idle, time.time()
        )
        return True

    def event_records(
        self, message: Any, accepts: frozenset[envelope.RecordType]
    ) -> tuple[tuple[envelope.EventRecord, ...], bool]:
        """The events in ``message``, and whether it is an events record carrying several;
        none for an upstream watermark record (noted here, never data)."""
        record = envelope.decode(message.value, accepts)
        if self.observe(message.partition, record):
            return (), False
        if isinstance(record, envelope.EventBatch):
            records, batched = record.records, True
        elif isinstance(record, envelope.EventRecord):
            records, batched = (record,), False
        else:
            raise envelope.UnreadableRecord(f"expected events, got {type(record).__name__}")
        tracker, now = self.tracker(message.partition), time.time()
        for channel in {f"{event.source.topic}:{event.source.partition}" for event in records}:
            tracker.heard(channel, now)
        return records, batched

    def on_watermark(self, partition: int, record: envelope.InternalRecord) -> Watermark | None:
        """For an upstream watermark record: this task's watermark now; None for data."""
        if not self.observe(partition, record):
            return None
        mark = self.marks[partition] = self.tracker(partition).advance(time.time())
        return mark

    async def send(self) -> None:
        if not self.outputs or self.app.should_stop or not self.app.producer.started:
            return
        now = time.time()
        assigned = sorted(
            tp.partition for tp in self.app.assignor.assigned_actives()
            if tp.topic == self.input_topic
        )  # fmt: skip
        for partition in assigned:
            mark = self.marks[partition] = self._mark(partition, now)
            sent = self.last_sent.get(partition)
            # Unchanged, or idle (downstream leaves an idle task out and runs its own clock):
            # only often enough that downstream never takes a live task for an idle one.
            unchanged = sent is not None and (sent[0] == mark or (sent[0].idle and mark.idle))
            if sent is not None and unchanged and now - sent[1] < self.heartbeat_s:
                continue
            self.last_sent[partition] = (mark, now)
            channel = f"{self.input_topic}:{partition}"
            value = envelope.encode(envelope.WatermarkRecord(channel, mark))
            try:
                if self.before_send is not None:
                    # After the mark: every record it covers was gathered before it.
                    await self.before_send()
                for topic, partitions in self.outputs:
                    for target in range(partitions):
                        await topic.send(key=None, value=value, partition=target)
            except NotReady:
                return  # the producer stopped under us during shutdown

    def _mark(self, partition: int, now: float) -> Watermark:
        if self.mark_of is not None:
            return self.mark_of(partition, now)
        tracker = self.tracker(partition)
        if self.upstream is None and self._has_backlog(partition):
            tracker.heard(f"{self.input_topic}:{partition}", now)
        return tracker.advance(now)

    def _has_backlog(self, partition: int) -> bool:
        """True while records are left to read, or nothing is known yet (not fetched)."""
        tp = TP(self.input_topic, partition)
        highwater = self.app.consumer.highwater(tp)
        if highwater is None:
            return True
        read_to = self.read_to.get(partition)
        if read_to is None:
            # Nothing processed since the assignment: reading starts at the committed offset
            # (Faust keeps it from its seek; none committed: from the earliest).
            committed = getattr(self.app.consumer, "_committed_offset", {}).get(tp)
            return bool(highwater > (committed or 0))
        return bool(highwater > read_to + 1)
