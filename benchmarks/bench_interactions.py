"""Interaction throughput benchmark: two ceilings, one real worker, produced→observed latency.

The interaction counterpart of ``bench_feedback.py``, on a fresh embedded Tansu broker:

1. Ceiling A: ``decode_event`` + ``apply_interaction`` (case correlation) + the observation
   records, in this process on a dict, no Kafka.
2. Ceiling B: a bare aiokafka consumer→producer loop copying the same records between topics.
3. Worker throughput: N preloaded case-lifecycle interaction events (the generator at
   ``--arrivals-scale``, as ``bench_window_memory.py``), then one real ``servicepulse worker``;
   events/s from its first re-keyed record to (a) every event through case correlation
   (committed offsets) and (b) every topic it reads caught up (windows, journeys included).
4. Latency: M more events at half of (b); per event, input timestamp → its re-keyed record
   (ingest hop) and → the first observation case correlation derived from it.

Usage::

    .venv/bin/python benchmarks/bench_interactions.py [--events N] [--latency-events M]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import committed_total, event_ids_of, records_by_topic, records_per_event_lines
from bench_feedback import (
    BenchmarkError,
    CpuMeter,
    Rate,
    ceiling_passthrough,
    console,
    create_time,
    ensure_alive,
    machine_rows,
    p50_p99,
    pairs,
    percentile,
    phase,
    print_profile,
    produce_paced,
    reader,
    run_benchmark,
    start_profiler,
    worker_env,
    worker_settings,
)

from servicepulse.devtools.generator import FeedbackGenerator, GeneratedRecord
from servicepulse.processors import envelope
from servicepulse.processors.cases import apply_interaction
from servicepulse.processors.decoding import decode_event
from servicepulse.processors.records import SourcePosition
from servicepulse.schemas.models import INTERACTION_TYPE, InteractionEvent
from servicepulse.streams.settings import Settings
from servicepulse.streams.topics import ensure_topics
from tests.integration.support import (
    WorkerProcess,
    consumer_lag,
    produce,
    wait_caught_up,
)

DEFAULT_EVENTS = 10_000
DEFAULT_LATENCY_EVENTS = 2_000
DEFAULT_ARRIVALS_SCALE = 6.0
RATE_SHARE = 0.5
SEED = 20_261_202
POLL_SECONDS = 0.5
IDLE_TIMEOUT = "SERVICEPULSE_IDLE_TIMEOUT_SECONDS"


@dataclass(frozen=True)
class WorkerResult:
    cases: Rate  # first re-keyed record → all N committed by case correlation
    caught_up: Rate  # first re-keyed record → every topic the worker reads committed
    startup_seconds: float
    per_cpu_second: Rate  # events per CPU-second of the worker, first re-keyed record → caught up


@dataclass(frozen=True)
class LatencyResult:
    rate: float
    ingest_ms: list[int]  # sorted: re-keyed record − input
    observed_ms: list[int]  # sorted: first observation derived from the event − input
    events: int


def interactions(count: int, arrivals_scale: float) -> list[GeneratedRecord]:
    generator = FeedbackGenerator(
        seed=SEED,
        malformed_share=0.0,
        redelivery_share=0.0,
        case_share=1.0,
        arrivals_per_hour_scale=arrivals_scale,
    )
    records = list(generator.records(count))
    if any(r.event_type != INTERACTION_TYPE or r.key is None for r in records):
        raise BenchmarkError("the generator yielded a record that is not a keyed interaction")
    return records


def ceiling_cases(values: Sequence[bytes]) -> Rate:
    """What case correlation computes per event, on a dict instead of a Faust table, per
    CPU-second of this process."""
    cases: dict[str, Any] = {}
    origin = SourcePosition("bench", 0, 0)
    started = time.process_time()
    for value in values:
        event = decode_event(value, INTERACTION_TYPE)
        if not isinstance(event, InteractionEvent):
            raise BenchmarkError(f"generated value did not decode: {event}")
        case, found = apply_interaction(cases.get(event.case_id), event, repeat_days=0)
        for record in envelope.observation_records(found, event.event_id, origin):
            envelope.encode(record)
        cases[event.case_id] = case
    return Rate(len(values), time.process_time() - started)


async def committed_on(settings: Settings, topic: str) -> int:
    """Records on ``topic`` the worker group has committed."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.app_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        total = 0
        for tp in partitions:
            total += await consumer.committed(tp) or 0
        return total
    finally:
        await consumer.stop()


async def first_timestamp(settings: Settings, topic: str) -> int:
    consumer = reader(settings.kafka_bootstrap, topic)
    await consumer.start()
    try:
        earliest: int | None = None
        for messages in (await consumer.getmany(timeout_ms=2000)).values():
            for message in messages:
                stamp = create_time(message, "re-keyed record")
                earliest = stamp if earliest is None else min(earliest, stamp)
        if earliest is None:
            raise BenchmarkError(f"nothing on {topic}")
        return earliest
    finally:
        await consumer.stop()


async def worker_throughput(
    settings: Settings,
    worker: WorkerProcess,
    preload: Sequence[GeneratedRecord],
    profile: Path | None = None,
) -> WorkerResult:
    await produce(settings.kafka_bootstrap, settings.topic_interactions, pairs(preload))
    console.print(f"preloaded {len(preload)} records into {settings.topic_interactions}")
    started_wall = time.time()
    worker.start()
    meter = CpuMeter(worker)
    deadline = time.monotonic() + max(600.0, len(preload) / 20)
    profiler: subprocess.Popen[bytes] | None = None
    started = False
    try:
        while True:
            ensure_alive(worker)
            if time.monotonic() > deadline:
                raise BenchmarkError("case correlation did not catch up in time")
            # Ingest's events records carry many events each: the events are through case
            # correlation once every input record and every events record is committed.
            ingested = await committed_on(settings, settings.topic_interactions)
            if not started:
                # The span starts at the last look that found nothing re-keyed yet: ingest
                # commits seconds after it starts, with thousands of events behind it.
                _, rekeyed = await committed_total(
                    settings.kafka_bootstrap, settings.app_id, settings.internal_interaction_topic
                )
                started = rekeyed > 0
            meter.sample(ingested, start=not started)
            if ingested and profile is not None and profiler is None:
                profiler = start_profiler(worker, profile)  # steady state, not startup
            if ingested >= len(preload) and not await consumer_lag(
                settings.kafka_bootstrap, settings.app_id,
                [settings.topic_interactions, settings.internal_interaction_topic],
            ):  # fmt: skip
                cases_done = time.time()
                break
            await asyncio.sleep(POLL_SECONDS)
        await wait_caught_up(settings, timeout=600)
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
            profiler.wait(timeout=60)
    meter.sample(len(preload))
    caught_up = time.time()
    first = await first_timestamp(settings, settings.internal_interaction_topic) / 1000
    return WorkerResult(
        cases=Rate(len(preload), cases_done - first),
        caught_up=Rate(len(preload), caught_up - first),
        startup_seconds=first - started_wall,
        per_cpu_second=meter.rate(),
    )


async def read_stamps(
    settings: Settings, topic: str, wanted: set[str], ids_of: Any, timeout: float
) -> dict[str, int]:
    """event_id → the first CreateTime on ``topic`` of a record carrying it (``ids_of``)."""
    consumer = reader(settings.kafka_bootstrap, topic)
    await consumer.start()
    found: dict[str, int] = {}
    try:
        deadline = time.monotonic() + timeout
        idle = 0
        while time.monotonic() < deadline and idle < 6:
            batch = await consumer.getmany(timeout_ms=500)
            idle = 0 if batch else idle + 1
            for messages in batch.values():
                for message in messages:
                    if envelope.is_watermark(message.value):
                        continue  # internal topics carry watermark records too
                    for event_id in ids_of(message.value):
                        if event_id in wanted and event_id not in found:
                            found[event_id] = create_time(message, topic)
        return found
    finally:
        await consumer.stop()


async def latency(
    settings: Settings, worker: WorkerProcess, records: Sequence[GeneratedRecord], rate: float
) -> LatencyResult:
    ids = [event_id_of(r.value) for r in records]
    await produce_paced(settings.kafka_bootstrap, settings.topic_interactions, records, rate)
    await wait_all_committed(settings, worker)
    wanted = set(ids)
    inputs = await read_stamps(
        settings, settings.topic_interactions, wanted, lambda value: [event_id_of(value)], 60
    )
    rekeyed = await read_stamps(
        settings, settings.internal_interaction_topic, wanted, event_ids_of, 60
    )
    observed = await read_stamps(
        settings, settings.internal_observation_topic, wanted, event_ids_of, 60
    )
    if inputs.keys() != wanted or rekeyed.keys() != wanted:
        raise BenchmarkError(f"read back {len(inputs)} inputs, {len(rekeyed)} re-keyed records")
    if not observed:
        raise BenchmarkError("no latency-phase event led to an observation")
    return LatencyResult(
        rate=rate,
        ingest_ms=sorted(rekeyed[i] - inputs[i] for i in wanted),
        observed_ms=sorted(observed[i] - inputs[i] for i in observed),
        events=len(records),
    )


def event_id_of(value: bytes) -> str:
    """The event_id of a generated input (bare or CloudEvents-wrapped)."""
    event = decode_event(value, INTERACTION_TYPE)
    if not isinstance(event, InteractionEvent):
        raise BenchmarkError(f"generated value did not decode: {event}")
    return event.event_id


async def wait_all_committed(settings: Settings, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + 600
    while (
        await consumer_lag(
            settings.kafka_bootstrap,
            settings.app_id,
            [settings.topic_interactions, settings.internal_interaction_topic],
        )
        > 0
    ):
        ensure_alive(worker)
        if time.monotonic() > deadline:
            raise BenchmarkError("latency-phase events not processed within 600 s")
        await asyncio.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class Report:
    events: int
    ceiling_a: Rate
    ceiling_b: Rate
    worker: WorkerResult
    latency: LatencyResult
    load_before: float
    arrivals_scale: float


async def run(
    args: argparse.Namespace, bootstrap: str, workdir: Path, workers: list[WorkerProcess]
) -> Report:
    load_before = os.getloadavg()[0]
    records = interactions(args.events + args.latency_events, args.arrivals_scale)
    preload, later = records[: args.events], records[args.events :]
    console.print(f"generated {len(records)} interaction events (seed {SEED})")

    phase("1. Ceiling A: decode_event + case correlation in process (no Kafka)")
    ceiling_a = ceiling_cases([r.value for r in preload])
    console.print(f"[bold]{ceiling_a.per_second:,.0f} events/s")

    settings = worker_settings(bootstrap, uuid.uuid4().hex[:8])
    phase("2. Ceiling B: aiokafka consumer → producer passthrough")
    run_id = settings.app_id.removesuffix("-worker").removeprefix("bench-")
    ceiling_b = await ceiling_passthrough(bootstrap, pairs(preload), settings.partitions, run_id)
    console.print(f"[bold]{ceiling_b.per_second:,.0f} events/s")

    phase("3. Worker throughput: one servicepulse worker over preloaded records")
    await ensure_topics(settings)
    # The feedback topic gets no record here: until its partitions count as idle, it holds
    # every window open. At the default 30 s a fast run could end before any window closed,
    # and count none of the finals' work; 5 s makes it idle before the first output. Set in
    # this process's environment, so the worker inherits it and the summary prints it.
    os.environ.setdefault(IDLE_TIMEOUT, "5")
    worker = WorkerProcess(
        bootstrap, workdir, app_id=settings.app_id, extra_env=worker_env(settings)
    )
    workers.append(worker)
    measured = await worker_throughput(settings, worker, preload, args.profile)
    print_profile(args.profile)
    console.print(f"records per preloaded event, by topic (after {args.events:,} events):")
    totals = await records_by_topic(bootstrap, settings)
    for line in records_per_event_lines(totals, args.events):
        console.print(f"  {line}")
    console.print(
        f"through case correlation {measured.cases.per_second:,.0f} events/s, every topic "
        f"caught up {measured.caught_up.per_second:,.0f} events/s"
    )

    phase("4. Latency produced → re-keyed → observation at half load")
    rate = args.rate or RATE_SHARE * measured.caught_up.per_second
    console.print(f"producing {len(later)} events at {rate:,.0f}/s")
    timed = await latency(settings, worker, later, rate)
    console.print(f"ingest hop {p50_p99(timed.ingest_ms)}; observed {p50_p99(timed.observed_ms)}")
    return Report(
        args.events, ceiling_a, ceiling_b, measured, timed, load_before, args.arrivals_scale
    )


def summary(report: Report) -> Table:
    table = Table(title="servicepulse interactions benchmark")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("notes")
    a, b = report.ceiling_a.per_second, report.ceiling_b.per_second
    cases, caught = report.worker.cases.per_second, report.worker.caught_up.per_second
    table.add_row(
        "Ceiling A: case correlation alone",
        f"{a:,.0f} ev/s",
        "decode_event + apply_interaction + observation records, no Kafka",
    )
    table.add_row("Ceiling B: aiokafka passthrough", f"{b:,.0f} ev/s", "consume → produce")
    table.add_row(
        "Worker: through case correlation",
        f"{cases:,.0f} ev/s",
        "first re-keyed record → all N committed on the re-keyed topic",
    )
    table.add_row(
        "Worker: every topic caught up",
        f"{caught:,.0f} ev/s",
        "… → windows, journeys, benchmarks committed too",
    )
    per_cpu = report.worker.per_cpu_second.per_second
    table.add_row(
        "Worker per CPU-second",
        f"{per_cpu:,.0f} ev/s",
        "events / CPU time of the worker, first re-keyed record → caught up (one free core)",
    )
    table.add_row("caught up / ceiling A", f"{caught / a:.1%}", "")
    table.add_row("per CPU-second / ceiling A", f"{per_cpu / a:.1%}", "")
    table.add_row("caught up / ceiling B", f"{caught / b:.1%}", "")
    table.add_row("Worker startup → first re-keyed", f"{report.worker.startup_seconds:.1f} s", "")
    timed = report.latency
    for name, values in (("ingest hop", timed.ingest_ms), ("→ observation", timed.observed_ms)):
        table.add_row(
            f"Latency {name} p50",
            f"{percentile(values, 0.5)} ms",
            f"{len(values)} events at {timed.rate:,.0f}/s",
        )
        table.add_row(f"Latency {name} p99", f"{percentile(values, 0.99)} ms", "")
        table.add_row(f"Latency {name} max", f"{values[-1]} ms", "")
    table.add_section()
    table.add_row(
        "N / M",
        f"{report.events:,} / {timed.events:,}",
        f"generator arrivals scale {report.arrivals_scale:g}",
    )
    for row in machine_rows(report.load_before):
        table.add_row(*row)
    return table


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, metavar="N")
    parser.add_argument("--latency-events", type=int, default=DEFAULT_LATENCY_EVENTS, metavar="M")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="R",
        help="latency-phase events/s (default: half the caught-up rate)",
    )
    parser.add_argument(
        "--arrivals-scale",
        type=float,
        default=DEFAULT_ARRIVALS_SCALE,
        help="generator case arrival density (bench_window_memory's default)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="py-spy the worker from its first commit until caught up, into FILE (raw)",
    )
    parser.add_argument("--workdir", default=None, metavar="DIR")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(run, summary, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
