"""Peer benchmarks, fed by the finals of `benchmark_window`.

    standard-windows ──finals of benchmark_window──▶ <app>-benchmark-inputs (ONE partition)
        ──▶ latest[group|standard] ──▶ service.benchmarks + rank/gap gauges

A window end is ranked once, when the windows stage's watermark has passed it (its watermark
records reach this topic after the finals they cover): every group's latest compliance.

Benchmarks rank compliance (the share of observations meeting the standard: higher is better
for every standard), among peers offering the same service (or using the same channel), and
measure the distance to best-in-class compliance from the standards file.
"""

from __future__ import annotations

from typing import Any

import faust

from servicepulse.processors import envelope, peer_rounds
from servicepulse.processors.peer_benchmarks import GroupKey, benchmark_messages
from servicepulse.processors.records import dumps, epoch_of
from servicepulse.processors.standards import StandardsConfig
from servicepulse.streams import topology
from servicepulse.streams.deadletters import DeadLetters, run_agent
from servicepulse.streams.delivery import held_writes
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings
from servicepulse.streams.watermarks import StageWatermarks


def register_peer_benchmarks(
    app: faust.App, settings: Settings, metrics: Metrics, standards: StandardsConfig
) -> None:
    output = topology.topic(app, settings, topology.BENCHMARKS)
    latest = topology.table(app, settings, topology.BENCHMARK_LATEST)
    held = held_writes(app)  # a settled round follows its messages (streams.delivery)
    config = standards.benchmarks
    source = topology.PEER_BENCHMARKS.source
    # Each window end is ranked once, when the watermark (the slowest windows partition's)
    # has passed it: every peer's final for it has arrived by then (processors.peer_rounds).
    watermarks = StageWatermarks.fed_by_windows(app, settings, source.name(settings))

    async def rank_one(message: Any) -> None:
        record = envelope.decode(message.value, source.accepts)
        mark = watermarks.on_watermark(message.partition, record)
        if mark is not None:
            for end in peer_rounds.due_ends(latest, mark.value):
                for standard, values in peer_rounds.rounds(latest, end).items():
                    await publish(standard, values, end)
                peer_rounds.settle(latest, end)
            return
        assert isinstance(record, envelope.WindowFinalRecord)  # the topic's other type
        peer_rounds.hold(latest, *record.finals)

    async def publish(standard: str, values: dict[GroupKey, float], end: str) -> None:
        messages = benchmark_messages(
            values,
            window=settings.benchmark_window,
            as_of=epoch_of(end),
            peer_by=config.peer_by,  # type: ignore[arg-type]
            best_in_class=config.best_in_class,
            directions={standard: "at_least"},
        )
        for message in messages:
            await held.send(
                output,
                key="|".join((message["agency"], message["service"], message["channel"],
                              standard)).encode(),
                value=dumps(message),
            )  # fmt: skip
            labels = (metrics.agency(message["agency"]), metrics.service(message["service"]),
                      message["channel"], standard)  # fmt: skip
            metrics.benchmark_rank.labels(*labels).set(message["percentile_rank"])
            if message.get("gap_to_best_in_class") is not None:
                metrics.benchmark_gap.labels(*labels).set(message["gap_to_best_in_class"])

    dead_letters = DeadLetters(app, settings, metrics)
    run_agent(app, settings, dead_letters, topology.PEER_BENCHMARKS, rank_one)
