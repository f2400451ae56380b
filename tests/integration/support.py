"""Real broker, real worker processes, and waiting for conditions (never sleeping and hoping)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition

from servicepulse.devtools.broker import free_port
from servicepulse.devtools.generator import SIMULATED_TIME_ENV
from servicepulse.processors.envelope import is_watermark
from servicepulse.streams import topology
from servicepulse.streams.settings import Settings
from servicepulse.streams.tansu_compat import true_end_offsets


@dataclass
class WorkerProcess:
    """A `servicepulse worker` subprocess with its own data dir, HTTP port and log file."""

    bootstrap: str
    workdir: Path
    app_id: str = "servicepulse"
    extra_env: dict[str, str] = field(default_factory=dict)
    web_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"worker-{self.web_port}.log"

    def env(self) -> dict[str, str]:
        # Test streams are dated in November 2026 or generated (simulated time runs ahead of
        # the clock): accept their event times; a test of the bounds sets them in extra_env.
        env = {**os.environ, **SIMULATED_TIME_ENV}
        env.update(
            SERVICEPULSE_KAFKA_BOOTSTRAP=self.bootstrap,
            SERVICEPULSE_WEB_PORT=str(self.web_port),
            SERVICEPULSE_WEB_HOST="127.0.0.1",
            SERVICEPULSE_DATA_DIR=str(self.workdir / f"data-{self.web_port}"),
            SERVICEPULSE_APP_ID=self.app_id,
            SERVICEPULSE_PSEUDONYM_KEY="integration-test-pseudonym-key",
            # Tests read /metrics right after acting: never a page rendered before that.
            SERVICEPULSE_METRICS_MIN_INTERVAL_SECONDS="0",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> WorkerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "servicepulse.streams.cli", "worker"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Ready = partitions assigned and recovery done (Faust logs "Worker ready")."""
        wait_for(
            lambda: "Worker ready" in self.log_path.read_text(errors="replace") or self._died(),
            timeout,
            "worker ready",
        )
        if self._died():
            raise AssertionError(f"worker exited early:\n{self.log_tail()}")

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics", timeout=5) as r:
            body: bytes = r.read()
            return body.decode()

    def diagnostics(self) -> str:
        """The worker's state and every task's chain of awaits (SIGUSR2), the partitions
        /metrics reports lagging, every asyncio task's stack (mode's worker writes them on
        SIGUSR1), and every thread's stack (py-spy dump: also when the event loop is blocked).
        Shortest first: CI keeps only the head of a long failure."""
        if self.process is None or self.process.poll() is not None:
            return "(not running)"
        state = self._signal_dump(signal.SIGUSR2)
        tasks = self._signal_dump(signal.SIGUSR1)
        py_spy = Path(sys.executable).with_name("py-spy")
        try:
            stacks = subprocess.run(
                [str(py_spy), "dump", "--pid", str(self.process.pid)],
                capture_output=True, text=True, timeout=30, check=False,
            ).stdout  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as err:
            stacks = f"(py-spy dump failed: {err})"
        try:
            lag = "\n".join(line for line in self.metrics_text().splitlines()
                            if line.startswith("servicepulse_consumer_lag")
                            and not line.endswith(" 0.0"))  # fmt: skip
        except OSError as err:
            lag = f"(/metrics failed: {err})"
        return f"{state}\n{lag}\n{tasks}\n{stacks}"

    def _signal_dump(self, sig: int, timeout: float = 10.0) -> str:
        """What the worker writes to its log on ``sig``: USR2 its state and every task's
        chain of awaits (streams.diagnose), USR1 mode's dump of task stacks."""
        assert self.process is not None
        start = self.log_path.stat().st_size
        self.process.send_signal(sig)
        deadline = time.monotonic() + timeout
        size, quiet_since = start, time.monotonic()
        while time.monotonic() < deadline:  # until the dump stops growing for a second
            time.sleep(0.2)
            grown = self.log_path.stat().st_size
            if grown != size:
                size, quiet_since = grown, time.monotonic()
            elif size > start and time.monotonic() - quiet_since > 1.0:
                break
        with self.log_path.open("rb") as log:
            log.seek(start)
            dump = log.read().decode(errors="replace")
        return dump or f"(nothing on {signal.Signals(sig).name}: is the event loop blocked?)"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        process, self.process = self.process, None
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes]],
    max_request_size: int = 4 << 20,
) -> list[tuple[int, int]]:
    """Sends (key, value) pairs in order; returns their (partition, offset)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=max_request_size
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value=value, key=key) for key, value in records]
        positions = []
        for future in futures:
            metadata = await future
            positions.append((metadata.partition, metadata.offset))
        return positions
    finally:
        await producer.stop()


def reader(bootstrap: str, *topics: str) -> AIOKafkaConsumer:
    """A group-less consumer reading the topics from the beginning, in large fetches."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        fetch_max_bytes=16 << 20,
        max_partition_fetch_bytes=8 << 20,
    )


async def consume(
    bootstrap: str,
    topics: list[str],
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout: float = 60.0,
    settle: float = 0.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Reads the topics from the beginning until `until(records)` holds (or times out).

    `settle` keeps reading that many seconds after the condition holds, to catch extras
    (e.g. a duplicate that must not appear).
    """
    consumer = reader(bootstrap, *topics)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        satisfied_at: float | None = None
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=250)
            for messages in batch.values():
                records.extend(messages)
            if satisfied_at is None and until(records):
                satisfied_at = loop.time()
            if satisfied_at is not None and loop.time() - satisfied_at >= settle:
                return records
        raise AssertionError(
            f"timed out after {timeout} s on {topics}: {len(records)} records so far"
        )
    finally:
        await consumer.stop()


def values(records: Iterable[ConsumerRecord[bytes, bytes]]) -> list[dict[str, Any]]:
    return [json.loads(record.value) for record in records if record.value is not None]


async def consumer_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Data messages on `topics` the group has not committed yet (a partition it never
    committed on counts from offset 0: the worker reads from the earliest offset)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        # Tansu's own end offsets stop at the start of a partition's last batch.
        ends = await true_end_offsets([bootstrap], await consumer.end_offsets(partitions))
        pending = {}
        for tp in partitions:
            committed = await consumer.committed(tp) or 0
            if ends[tp] > committed:
                pending[tp] = (committed, ends[tp])
        return await _data_records(bootstrap, pending) if pending else 0
    finally:
        await consumer.stop()


async def _data_records(bootstrap: str, ranges: dict[TopicPartition, tuple[int, int]]) -> int:
    """Records in the [start, end) offset ranges that are data, not watermark records (these
    keep coming while a worker runs, so they never count as something left to do)."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                              enable_auto_commit=False)  # fmt: skip
    await reader.start()
    try:
        reader.assign(list(ranges))
        for tp, (start, _) in ranges.items():
            reader.seek(tp, start)
        remaining, count = dict(ranges), 0
        for _ in range(40):  # ~20 s at most: the records are there already
            if not remaining:
                break
            batch = await reader.getmany(*remaining, timeout_ms=500)
            for tp, messages in batch.items():
                _, end = remaining[tp]
                count += sum(1 for m in messages
                             if m.offset < end and not is_watermark(m.value))  # fmt: skip
                if messages and messages[-1].offset >= end - 1:
                    del remaining[tp]
        return count + sum(end - start for start, end in remaining.values())
    finally:
        await reader.stop()


async def wait_caught_up(settings: Settings, timeout: float = 120.0) -> None:
    """Until the worker group has committed everything on every topic it reads, inputs and
    internal topics alike (twice in a row: one agent's output is another's input)."""
    topics = topology.consumed(settings)
    bootstrap, group = settings.kafka_bootstrap, settings.app_id
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    zero_in_a_row = 0
    while loop.time() < deadline:
        lag = await consumer_lag(bootstrap, group, topics)
        zero_in_a_row = zero_in_a_row + 1 if lag == 0 else 0
        if zero_in_a_row >= 2:
            return
        await asyncio.sleep(1.0)
    raise AssertionError(f"group {group} still lagging after {timeout} s")
