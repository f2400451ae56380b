"""Peer benchmarks, fed by the finals of `benchmark_window`.

    standard-windows ──finals of benchmark_window──▶ <app>-benchmark-inputs (ONE partition)
        ──▶ latest[group|standard] ──▶ service.benchmarks + rank/gap gauges

Benchmarks rank compliance (the share of observations meeting the standard: higher is better
for every standard), among peers offering the same service (or using the same channel), and
measure the distance to best-in-class compliance from the standards file.
"""

from __future__ import annotations

from typing import Any

import faust

from servicepulse.processors import envelope
from servicepulse.processors.peer_benchmarks import benchmark_messages
from servicepulse.processors.records import dumps, epoch_of
from servicepulse.processors.standards import StandardsConfig
from servicepulse.streams import topology
from servicepulse.streams.deadletters import DeadLetters, run_agent
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings


def register_peer_benchmarks(
    app: faust.App, settings: Settings, metrics: Metrics, standards: StandardsConfig
) -> None:
    output = topology.topic(app, settings, topology.BENCHMARKS)
    latest = topology.table(app, settings, topology.BENCHMARK_LATEST)
    config = standards.benchmarks
    # Rankings go out once per window step and standard (when a final with a later window end
    # arrives), not on every final: each ranking covers the whole peer group, so publishing on
    # every final would cost the square of the number of groups.
    ranked_until: dict[str, str] = {}

    async def rank_one(message: Any) -> None:
        final = envelope.decode_window_final(message.value).final
        if final.get("compliance") is None:
            return
        standard = final["standard"]
        key = "|".join((final["agency"], final["service"], final["channel"], standard))
        if ranked_until.get(standard, "") >= final["window_end"]:
            latest[key] = {"compliance": final["compliance"], "at": final["window_end"]}
            return
        ranked_until[standard] = final["window_end"]
        values = {
            tuple(k.split("|")): v["compliance"]
            for k, v in latest.items()
            if k.endswith(f"|{standard}")
        }
        values[(final["agency"], final["service"], final["channel"], standard)] = final[
            "compliance"
        ]
        messages = benchmark_messages(
            values,
            window=final["window"],
            as_of=epoch_of(final["window_end"]),
            peer_by=config.peer_by,  # type: ignore[arg-type]
            best_in_class=config.best_in_class,
            directions={standard: "at_least"},
        )
        for message in messages:
            await output.send(
                key="|".join((message["agency"], message["service"], message["channel"],
                              standard)).encode(),
                value=dumps(message),
            )  # fmt: skip
            labels = (metrics.agency(message["agency"]), metrics.service(message["service"]),
                      message["channel"], standard)  # fmt: skip
            metrics.benchmark_rank.labels(*labels).set(message["percentile_rank"])
            if message.get("gap_to_best_in_class") is not None:
                metrics.benchmark_gap.labels(*labels).set(message["gap_to_best_in_class"])
        latest[key] = {"compliance": final["compliance"], "at": final["window_end"]}

    dead_letters = DeadLetters(app, settings, metrics)
    run_agent(app, settings, dead_letters, topology.PEER_BENCHMARKS, rank_one)
