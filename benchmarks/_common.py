"""What the worker benchmarks share: import root, per-run settings, the worker's environment."""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The benchmarks run as scripts; `tests.integration.support` is importable only from the root.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: E402

from servicepulse.streams.settings import Settings  # noqa: E402
from servicepulse.streams.tansu_compat import true_end_offsets  # noqa: E402
from tests.integration.support import WorkerProcess  # noqa: E402


class BenchmarkError(RuntimeError):
    pass


def topic_settings() -> list[str]:
    """The settings naming a topic (``topic_check_seconds`` is a period, not a topic)."""
    return [name for name, field in Settings.model_fields.items()
            if name.startswith("topic_") and field.annotation is str]  # fmt: skip


def worker_settings(bootstrap: str, run_id: str) -> Settings:
    """Every topic (inputs, outputs, internal via app_id) prefixed with this run's id."""
    prefix = f"bench-{run_id}"
    defaults = Settings()
    topics = {name: f"{prefix}.{getattr(defaults, name)}" for name in topic_settings()}
    return Settings.model_validate(
        {"kafka_bootstrap": bootstrap, "app_id": f"{prefix}-worker", **topics}
    )


def worker_env(settings: Settings) -> dict[str, str]:
    """The worker subprocess's topics and partitions, and this checkout on its import path."""
    env = {f"SERVICEPULSE_{name.upper()}": getattr(settings, name) for name in topic_settings()}
    env["SERVICEPULSE_PARTITIONS"] = str(settings.partitions)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def ensure_alive(worker: WorkerProcess) -> None:
    if worker.process is None or worker.process.poll() is not None:
        raise BenchmarkError(f"worker exited early:\n{worker.log_tail()}")


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


async def records_by_topic(bootstrap: str, settings: Settings) -> dict[str, int]:
    """Records on every topic of this run (inputs, internal, changelogs, outputs; watermark
    records included): what the preloaded events became, each one a produce and most a read."""
    prefix = settings.app_id.removesuffix("-worker")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        names = sorted(name for name in await consumer.topics() if name.startswith(prefix))
        partitions = [
            TopicPartition(name, partition)
            for name in names
            for partition in sorted(consumer.partitions_for_topic(name) or ())
        ]
        # Tansu's own end offsets stop at the start of a partition's last batch.
        ends = await true_end_offsets([bootstrap], await consumer.end_offsets(partitions))
        starts = await consumer.beginning_offsets(partitions)
        totals = dict.fromkeys(names, 0)
        for tp in partitions:
            totals[tp.topic] += ends[tp] - starts[tp]
        return {name.removeprefix(prefix).lstrip(".-"): n for name, n in totals.items() if n}
    finally:
        await consumer.stop()


def event_ids_of(value: bytes | None) -> list[str]:
    """The event ids an internal record carries: one for an event or observation record, each
    of an events or observations record's (streams.batching), none for a watermark record."""
    document = orjson.loads(value or b"null")
    if not isinstance(document, dict):
        return []
    if document.get("type") == "events":
        return [item["event"]["event_id"] for item in document["events"]]
    if document.get("type") == "observations":
        return [item["event_id"] for item in document["records"]]
    if "event" in document:
        return [document["event"]["event_id"]]
    return [document["event_id"]] if "event_id" in document else []


async def committed_total(bootstrap: str, group: str, topic: str) -> tuple[int, int]:
    """Offsets ``group`` committed on ``topic`` and the topic's records, summed over its
    partitions: equal once the group read everything written so far."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await true_end_offsets([bootstrap], await consumer.end_offsets(partitions))
        committed = 0
        for tp in partitions:
            committed += await consumer.committed(tp) or 0
        return committed, sum(ends.values())
    finally:
        await consumer.stop()


def records_per_event_lines(totals: dict[str, int], events: int) -> list[str]:
    """One line per topic, most records first, and the total per event."""
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    lines = [f"{n / events:6.2f}  {name}" for name, n in ranked]
    lines.append(f"{sum(totals.values()) / events:6.2f}  records per event on all topics")
    return lines
