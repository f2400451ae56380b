"""Peer benchmarks and the public transparency feed, both fed by final windows.

    standard-windows ──finals of benchmark_window──▶ <app>-benchmark-inputs (ONE partition)
        ──▶ latest[group|standard] ──▶ service.benchmarks + rank/gap gauges
    standard-windows ──calendar-day finals (one_day windows starting 00:00 UTC)──▶
        <app>-daily-by-service (key agency|service) ──▶ days[agency|service|day]
        ──▶ public.performance (suppressed below public_min_responses; no free text)

A day's row is kept `public_days_retention_days` of event time past its end: the finals of a
quiet channel or standard can come long after the others. A final for a day already forgotten
is counted and logged, not published (its row would hide the others' counts).

Benchmarks rank compliance (the share of observations meeting the standard: higher is better
for every standard), among peers offering the same service (or using the same channel), and
measure the distance to best-in-class compliance from the standards file.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import faust

from servicepulse.processors.cases import SECONDS_PER_DAY
from servicepulse.processors.peer_benchmarks import benchmark_messages
from servicepulse.processors.records import dumps, epoch_of
from servicepulse.processors.standards import StandardsConfig
from servicepulse.processors.transparency import day_group, fold_final, public_performance
from servicepulse.streams.expiry import EventTimeExpiry
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings

log = logging.getLogger(__name__)


def is_calendar_day(final: dict[str, Any]) -> bool:
    start, end = epoch_of(final["window_start"]), epoch_of(final["window_end"])
    return end - start == SECONDS_PER_DAY and start % SECONDS_PER_DAY == 0


def register_benchmarks(
    app: faust.App, settings: Settings, metrics: Metrics, standards: StandardsConfig
) -> None:
    inputs = app.topic(
        settings.internal_benchmark_topic, key_serializer="raw", value_serializer="raw",
        partitions=1,
    )  # fmt: skip
    output = app.topic(settings.topic_benchmarks, key_serializer="raw", value_serializer="raw")
    latest = app.Table(
        "benchmark-latest", default=None, partitions=1, key_type=str,
        help="agency|service|channel|standard -> latest final compliance of benchmark_window",
    )  # fmt: skip
    config = standards.benchmarks
    # Rankings go out once per window step and standard (when a final with a later window end
    # arrives), not on every final: each ranking covers the whole peer group, so publishing on
    # every final would cost the square of the number of groups.
    ranked_until: dict[str, str] = {}

    @app.agent(inputs, name="peer-benchmarks")
    async def peer_benchmarks(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            final = json.loads(record.message.value)
            if final.get("compliance") is None:
                continue
            standard = final["standard"]
            key = "|".join((final["agency"], final["service"], final["channel"], standard))
            if ranked_until.get(standard, "") >= final["window_end"]:
                latest[key] = {"compliance": final["compliance"], "at": final["window_end"]}
                continue
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


def register_public_feed(app: faust.App, settings: Settings, metrics: Metrics) -> None:
    daily = app.topic(settings.internal_daily_topic, key_serializer="raw", value_serializer="raw")
    public = app.topic(settings.topic_public, key_serializer="raw", value_serializer="raw")
    days = app.Table(
        "public-days", default=None, partitions=settings.partitions, key_type=str,
        help="agency|service|day -> {p: partition, end: epoch s, parts: {channel|std: [n, ok]}}",
    )  # fmt: skip

    retention = EventTimeExpiry(
        app, settings.internal_daily_topic, days,
        settings.public_days_retention_days * SECONDS_PER_DAY,
        noted_at=lambda row: row.get("end"),
    )  # fmt: skip

    @app.agent(daily, name="public-performance")
    async def public_performance_feed(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            final = json.loads(record.message.value)
            partition = record.message.partition
            day = final["window_start"][:10]
            key = f"{final['agency']}|{final['service']}|{day}"
            day_end = epoch_of(final["window_end"])
            retention.advance(partition, day_end)
            if retention.is_past_horizon(partition, day_end) and key not in days:
                metrics.public_finals_expired.inc()
                log.warning(
                    "public feed: final for %s %s %s arrived after its day was forgotten "
                    "(SERVICEPULSE_PUBLIC_DAYS_RETENTION_DAYS=%g); not published",
                    key, final["channel"], final["standard"],
                    settings.public_days_retention_days,
                )  # fmt: skip
                continue
            parts = fold_final((days.get(key) or {}).get("parts"), final)
            group = day_group(final["agency"], final["service"], parts)
            for row in public_performance(day, {key: group}, settings.public_min_responses):
                await public.send(key=key.encode(), value=dumps(row))
            days[key] = {"p": partition, "end": day_end, "parts": parts}
            retention.note(partition, key, day_end)
            retention.expire(partition)
