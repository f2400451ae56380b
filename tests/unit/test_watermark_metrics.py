"""Watermark gauges: read from each stage's latest marks, following partition ownership."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.types import TP
from prometheus_client import CollectorRegistry

from servicepulse.processors import envelope
from servicepulse.processors.watermarks import Watermark
from servicepulse.streams import topology
from servicepulse.streams.health import WatermarkGauges
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings
from servicepulse.streams.watermarks import StageWatermarks, stages

SETTINGS = Settings()
INGEST = topology.INGEST_FEEDBACK.source.name(SETTINGS)
IDLE_INPUT = "servicepulse_input_partition_idle"
WINDOWS = topology.STANDARD_WINDOWS.source.name(SETTINGS)


def _stage(topic: str, marks: dict[int, Watermark], *, source: bool) -> Any:
    return SimpleNamespace(
        settings=SETTINGS, input_topic=topic, marks=marks,
        upstream=None if source else ("x:0",), mark_of=None,
    )  # fmt: skip


def _setup() -> tuple[CollectorRegistry, WatermarkGauges, Any, Any]:
    registry = CollectorRegistry()
    ingest = _stage(INGEST, {0: Watermark(1000.0, False), 1: Watermark(None, True)}, source=True)
    windows = _stage(WINDOWS, {2: Watermark(900.0, True)}, source=False)
    app = SimpleNamespace(_servicepulse_stages=[ingest, windows])
    gauges = WatermarkGauges(app, Metrics(registry))  # type: ignore[arg-type]
    gauges.report()
    return registry, gauges, ingest, windows


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_gauges_read_the_stages_marks() -> None:
    registry, _, _, _ = _setup()
    ingest, windows = "ingest-feedback", "standard-windows"
    assert _value(registry, "servicepulse_watermark_seconds", stage=ingest, partition="0") == 1000
    # No watermark yet: no sample at all (never NaN), but its idleness is known.
    assert _value(registry, "servicepulse_watermark_seconds", stage=ingest, partition="1") is None
    assert _value(registry, "servicepulse_watermark_idle", stage=ingest, partition="1") == 1
    assert _value(registry, "servicepulse_watermark_idle", stage=windows, partition="2") == 1
    assert _value(registry, IDLE_INPUT, topic=INGEST, partition="0") == 0
    assert _value(registry, IDLE_INPUT, topic=INGEST, partition="1") == 1
    # Only sources have input partitions.
    assert _value(registry, IDLE_INPUT, topic=WINDOWS, partition="2") is None


def test_gauges_follow_partition_ownership() -> None:
    registry, gauges, ingest, windows = _setup()
    gauges.on_revoked(None, {TP(INGEST, 0)}, signal=None)
    assert _value(registry, "servicepulse_watermark_seconds", stage="ingest-feedback",
                  partition="0") is None  # fmt: skip
    assert _value(registry, IDLE_INPUT, topic=INGEST, partition="0") is None
    assert _value(registry, IDLE_INPUT, topic=INGEST, partition="1") == 1
    # The stage forgets a partition it lost; the next report leaves it out too.
    del ingest.marks[0]
    windows.marks.clear()
    gauges.report()
    assert _value(registry, "servicepulse_watermark_idle", stage="standard-windows",
                  partition="2") is None  # fmt: skip
    assert _value(registry, "servicepulse_watermark_idle", stage="ingest-feedback",
                  partition="1") == 1  # fmt: skip


def test_a_stage_keeps_its_latest_mark_per_owned_partition() -> None:
    app = SimpleNamespace(
        on_partitions_revoked=SimpleNamespace(connect=lambda receiver: None),
        timer=lambda seconds: lambda function: function,
    )
    upstream = "upstream:0"
    stage = StageWatermarks(app, SETTINGS, WINDOWS, [], (upstream,))  # type: ignore[arg-type]
    assert stages(app) == [stage]  # type: ignore[arg-type]
    record = envelope.WatermarkRecord(upstream, Watermark(5000.0, False))
    mark = stage.on_watermark(3, record)
    assert mark is not None and stage.marks == {3: mark} and mark.value == 5000.0
    stage._on_revoked(app, {TP(WINDOWS, 3)}, signal=None)
    assert stage.marks == {}
