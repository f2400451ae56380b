"""`servicepulse demo`: embedded broker + one worker + a realistic generator, live summary.

Everything runs on this machine: the Tansu broker (memory storage) on a free port, a worker
subprocess (its log in the demo's data directory) and a generator publishing at `rate`
events/s; the terminal shows what comes out of the output topics. Ctrl-C stops all three.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from servicepulse.devtools.broker import EmbeddedBroker, free_port
from servicepulse.devtools.generator import SIMULATED_TIME_ENV, FeedbackGenerator
from servicepulse.schemas.models import FEEDBACK_TYPE
from servicepulse.streams.settings import Settings
from servicepulse.streams.topics import ensure_topics


@dataclass
class DemoTally:
    """What the demo has sent and seen come out, for the live summary."""

    started: float = field(default_factory=time.monotonic)
    sent: Counter[str] = field(default_factory=Counter)
    scored_by_agency: Counter[str] = field(default_factory=Counter)
    sentiment: Counter[str] = field(default_factory=Counter)
    negative_by_agency: Counter[str] = field(default_factory=Counter)
    deadletters: Counter[str] = field(default_factory=Counter)
    finals: Counter[str] = field(default_factory=Counter)
    breaches: Counter[str] = field(default_factory=Counter)
    late: int = 0
    duplicates: float = 0.0
    worker_ready: bool = False

    def render(self, bootstrap: str, web_port: int, log_path: Path) -> Group:
        elapsed = time.monotonic() - self.started
        head = Table.grid(padding=(0, 2))
        head.add_row(
            f"[bold]servicepulse demo[/bold]  {elapsed:5.0f} s",
            f"broker {bootstrap}",
            f"metrics http://127.0.0.1:{web_port}/metrics",
            "[green]worker ready[/green]" if self.worker_ready else "[yellow]worker starting…",
        )
        flow = Table(title="events", show_edge=False)
        for column in ("sent valid", "redelivered", "malformed", "scored", "dead-lettered",
                       "duplicates dropped", "late", "final windows"):  # fmt: skip
            flow.add_column(column, justify="right")
        flow.add_row(
            str(self.sent["valid"]), str(self.sent["redelivery"]), str(self.sent["malformed"]),
            str(sum(self.scored_by_agency.values())), str(sum(self.deadletters.values())),
            f"{self.duplicates:.0f}", str(self.late), str(sum(self.finals.values())),
        )  # fmt: skip
        agencies = Table(title="feedback by agency", show_edge=False)
        for column in ("agency", "scored", "negative comments", "breached final windows"):
            agencies.add_column(column, justify="right")
        for agency, count in sorted(self.scored_by_agency.items()):
            negative = self.negative_by_agency[agency]
            agencies.add_row(agency, str(count), str(negative), str(self.breaches[agency]))
        rejects = Table(title="dead letters by category", show_edge=False)
        rejects.add_column("category")
        rejects.add_column("count", justify="right")
        for category, count in self.deadletters.most_common():
            rejects.add_row(category, str(count))
        sentiment = ", ".join(f"{label} {count}" for label, count in self.sentiment.items())
        return Group(head, flow, agencies, rejects, f"sentiment: {sentiment or '…'}",
                     f"[dim]worker log: {log_path}  ·  Ctrl-C stops[/dim]")  # fmt: skip


async def _generate(settings: Settings, rate: float, tally: DemoTally) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, max_request_size=4 << 20
    )
    await producer.start()
    try:
        generator = FeedbackGenerator(seed=int(time.time()))
        interval = 1.0 / rate
        next_at = time.monotonic()
        while True:
            for record in generator.records(1):
                topic = (settings.topic_feedback if record.event_type == FEEDBACK_TYPE
                         else settings.topic_interactions)  # fmt: skip
                await producer.send(topic, value=record.value, key=record.key)
                tally.sent[record.kind] += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        await producer.stop()


async def _watch_outputs(settings: Settings, tally: DemoTally) -> None:
    topics = [settings.topic_scored, settings.topic_deadletter, settings.topic_windows,
              settings.topic_late]  # fmt: skip
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest",
        group_id=None, max_partition_fetch_bytes=8 << 20, fetch_max_bytes=32 << 20,
    )  # fmt: skip
    await consumer.start()
    try:
        async for record in consumer:
            document = json.loads(record.value) if record.value else {}
            if record.topic == settings.topic_scored:
                tally.scored_by_agency[document["agency"]] += 1
                label = (document["sentiment"] or {}).get("label", "no comment")
                tally.sentiment[label] += 1
                if label == "negative":
                    tally.negative_by_agency[document["agency"]] += 1
            elif record.topic == settings.topic_deadletter:
                tally.deadletters[document["category"]] += 1
            elif record.topic == settings.topic_windows and document.get("final"):
                tally.finals[document["standard"]] += 1
                if document["status"] == "breached":
                    tally.breaches[document["agency"]] += 1
            elif record.topic == settings.topic_late:
                tally.late += 1
    finally:
        await consumer.stop()


def _scrape_duplicates(web_port: int) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=1) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("servicepulse_events_duplicate_total{")
    )


async def _run(settings: Settings, rate: float, duration: float | None, log_path: Path,
               worker: subprocess.Popen[bytes]) -> None:  # fmt: skip
    tally = DemoTally()
    tasks = [
        asyncio.create_task(_generate(settings, rate, tally)),
        asyncio.create_task(_watch_outputs(settings, tally)),
    ]
    console = Console()
    deadline = None if duration is None else time.monotonic() + duration
    try:
        with Live(console=console, refresh_per_second=2) as live:
            while deadline is None or time.monotonic() < deadline:
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited ({worker.returncode}); see {log_path}")
                for task in tasks:
                    if task.done() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                if not tally.worker_ready and log_path.exists():
                    tally.worker_ready = "Worker ready" in log_path.read_text(errors="replace")
                duplicates = await asyncio.to_thread(_scrape_duplicates, settings.web_port)
                if duplicates is not None:
                    tally.duplicates = duplicates
                live.update(tally.render(settings.kafka_bootstrap, settings.web_port, log_path))
                await asyncio.sleep(0.5)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def run_demo(duration: float | None, rate: float, port: int, web_port: int) -> int:
    """Returns the exit code: 0 after a clean stop (duration reached or Ctrl-C)."""
    console = Console(stderr=True)
    data_dir = Path(tempfile.mkdtemp(prefix="servicepulse-demo-"))
    log_path = data_dir / "worker.log"
    broker = EmbeddedBroker(port or free_port())
    worker: subprocess.Popen[bytes] | None = None
    try:
        broker.start()
        settings = Settings(kafka_bootstrap=broker.bootstrap, web_port=web_port,
                            web_host="127.0.0.1", data_dir=data_dir / "worker")  # fmt: skip
        asyncio.run(ensure_topics(settings))
        env = {**os.environ, "SERVICEPULSE_KAFKA_BOOTSTRAP": broker.bootstrap,
               "SERVICEPULSE_WEB_PORT": str(web_port), "SERVICEPULSE_WEB_HOST": "127.0.0.1",
               "SERVICEPULSE_DATA_DIR": str(settings.data_dir),
               "SERVICEPULSE_DEMO_MODE": "true", **SIMULATED_TIME_ENV}  # fmt: skip
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "servicepulse.streams.cli", "worker"],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_run(settings, rate, duration, log_path, worker))
        console.print(f"demo stopped; worker log and state in {data_dir}")
        return 0
    except Exception as err:
        console.print(f"[red]error:[/red] {err}")
        return 1
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        broker.stop()
