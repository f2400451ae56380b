"""The public transparency feed, fed by calendar-day finals.

    standard-windows ──calendar-day finals (one_day windows starting 00:00 UTC)──▶
        <app>-daily-by-service (key agency|service) ──▶ days[agency|service|day]
        ──▶ public.performance (suppressed below public_min_responses; no free text)

A day's row is kept `public_days_retention_days` of watermark time past its end (the windows
stage's watermark records, streams.watermarks). A final for a day already forgotten is counted
and logged, not published (its row would hide the others' counts).
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from servicepulse.processors import envelope
from servicepulse.processors.cases import SECONDS_PER_DAY
from servicepulse.processors.records import dumps, epoch_of
from servicepulse.processors.transparency import day_group, fold_final, public_performance
from servicepulse.streams import topology
from servicepulse.streams.deadletters import DeadLetters, run_agent
from servicepulse.streams.delivery import held_writes
from servicepulse.streams.expiry import EventTimeExpiry
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings
from servicepulse.streams.watermarks import StageWatermarks

log = logging.getLogger(__name__)


def is_calendar_day(final: dict[str, Any]) -> bool:
    start, end = epoch_of(final["window_start"]), epoch_of(final["window_end"])
    return end - start == SECONDS_PER_DAY and start % SECONDS_PER_DAY == 0


def register_public_feed(app: faust.App, settings: Settings, metrics: Metrics) -> None:
    source = topology.PUBLIC_PERFORMANCE.source
    public = topology.topic(app, settings, topology.PUBLIC)
    days = topology.table(app, settings, topology.PUBLIC_DAYS)
    held = held_writes(app)  # the day's state follows the rows (streams.delivery)
    retention = EventTimeExpiry(
        app, source.name(settings), days,
        settings.public_days_retention_days * SECONDS_PER_DAY,
        noted_at=lambda row: row.get("end"),
    )  # fmt: skip

    # Days are forgotten by the watermark (the slowest windows partition's), not by the
    # latest day one partition happened to deliver first.
    watermarks = StageWatermarks.fed_by_windows(app, settings, source.name(settings))

    async def publish_one(message: Any) -> None:
        record = envelope.decode(message.value, source.accepts)
        partition = message.partition
        mark = watermarks.on_watermark(partition, record)
        if mark is not None:
            if mark.value is not None:
                retention.advance(partition, mark.value)
                retention.expire(partition)
            return
        assert isinstance(record, envelope.WindowFinalRecord)  # the topic's other type
        for final in record.finals:
            await publish_final(partition, final)

    async def publish_final(partition: int, final: dict[str, Any]) -> None:
        day = final["window_start"][:10]
        key = f"{final['agency']}|{final['service']}|{day}"
        day_end = epoch_of(final["window_end"])
        if retention.is_past_horizon(partition, day_end) and key not in days:
            metrics.public_finals_expired.inc()
            log.warning(
                "public feed: final for %s %s %s arrived after its day was forgotten "
                "(SERVICEPULSE_PUBLIC_DAYS_RETENTION_DAYS=%g); not published",
                key, final["channel"], final["standard"], settings.public_days_retention_days,
            )  # fmt: skip
            return
        parts = fold_final((days.get(key) or {}).get("parts"), final)
        group = day_group(final["agency"], final["service"], parts)
        for row in public_performance(day, {key: group}, settings.public_min_responses):
            await held.send(public, key=key.encode(), value=dumps(row))
        days[key] = {"p": partition, "end": day_end, "parts": parts}
        retention.note(partition, key, day_end)

    dead_letters = DeadLetters(app, settings, metrics)
    run_agent(app, settings, dead_letters, topology.PUBLIC_PERFORMANCE, publish_one)
