"""Worker health metrics: consumer lag and event-time watermarks per assigned partition."""

from __future__ import annotations

from typing import Any

import faust
from faust.exceptions import NotReady

from servicepulse.streams import topology
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.watermarks import StageWatermarks, stages

LAG_REPORT_SECONDS = 5.0
Labels = tuple[str, str]


def register_health(app: faust.App, metrics: Metrics) -> None:
    watermarks = WatermarkGauges(app, metrics)
    app.on_partitions_revoked.connect(watermarks.on_revoked)

    @app.timer(LAG_REPORT_SECONDS)  # type: ignore[untyped-decorator]
    async def report_consumer_lag() -> None:
        """Lag = the partition's high-water mark minus this worker's fetch position."""
        if app.should_stop:
            return
        watermarks.report()
        metrics.consumer_lag.clear()
        for tp in sorted(app.assignor.assigned_actives()):
            try:
                position = await app.consumer.position(tp)
                highwater = app.consumer.highwater(tp)
            except (NotReady, KeyError, AssertionError):
                continue  # partition moving in a rebalance: reported next time
            if position is None or highwater is None:
                continue
            metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                max(0, highwater - position)
            )


def stage_name(stage: StageWatermarks) -> str:
    """The agent reading the stage's input topic (its input topic if none is known)."""
    for agent in topology.AGENTS:
        if agent.source.name(stage.settings) == stage.input_topic:
            return agent.name
    return stage.input_topic


class WatermarkGauges:
    """Each stage task's latest watermark (as the stage computed it; never recomputed here)
    for the partitions this worker owns. Series of partitions gone elsewhere are removed, not
    cleared and set again: a scrape in between would see a gap."""

    def __init__(self, app: faust.App, metrics: Metrics) -> None:
        self.app = app
        self.gauges = (metrics.watermark, metrics.watermark_idle, metrics.input_partition_idle)
        self.exported: list[set[Labels]] = [set() for _ in self.gauges]

    def report(self) -> None:
        values: list[dict[Labels, float]] = [{} for _ in self.gauges]
        watermark, idle, input_idle = values
        for stage in stages(self.app):
            name = stage_name(stage)
            source = stage.upstream is None and stage.mark_of is None
            for partition, mark in list(stage.marks.items()):
                labels = (name, str(partition))
                if mark.value is not None:
                    watermark[labels] = mark.value
                idle[labels] = float(mark.idle)
                if source:  # a source task's only input is its partition
                    input_idle[(stage.input_topic, str(partition))] = float(mark.idle)
        for gauge, exported, current in zip(self.gauges, self.exported, values, strict=True):
            for labels in exported - current.keys():
                gauge.remove(*labels)
            for labels, value in current.items():
                gauge.labels(*labels).set(value)
            exported.clear()
            exported.update(current)

    def on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked = args[0] if args else kwargs.get("revoked", ())
        inputs = {(tp.topic, str(tp.partition)) for tp in revoked}
        tasks = {(stage_name(stage), partition) for stage in stages(self.app)
                 for topic, partition in inputs if topic == stage.input_topic}  # fmt: skip
        for gauge, exported, gone in zip(self.gauges, self.exported, (tasks, tasks, inputs),
                                         strict=True):  # fmt: skip
            for labels in exported & gone:
                gauge.remove(*labels)
            exported -= gone
