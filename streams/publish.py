"""`servicepulse publish`: validate JSON Lines and publish the valid ones to their topics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from servicepulse.processors.decoding import Rejection, decode_event
from servicepulse.schemas.models import FEEDBACK_TYPE, INTERACTION_TYPE, FeedbackEvent
from servicepulse.streams.settings import Settings


@dataclass
class PublishSummary:
    accepted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    by_topic: dict[str, int] = field(default_factory=dict)


def detect_type(line: bytes, forced: str | None) -> str:
    """The event type a line claims: forced, its CloudEvents type, or by its fields."""
    if forced:
        return forced
    try:
        document = json.loads(line)
    except ValueError:
        return FEEDBACK_TYPE  # decode_event will say why it is not JSON
    is_interaction = isinstance(document, dict) and (
        document.get("type") == INTERACTION_TYPE or "kind" in document
    )
    if is_interaction:
        return INTERACTION_TYPE
    return FEEDBACK_TYPE


async def publish_lines(
    lines: Iterable[bytes],
    settings: Settings,
    forced_type: str | None = None,
    total: int | None = None,
    console: Console | None = None,
) -> PublishSummary:
    console = console or Console(stderr=True)
    topics = {FEEDBACK_TYPE: settings.topic_feedback, INTERACTION_TYPE: settings.topic_interactions}
    summary = PublishSummary()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", linger_ms=5
    )
    await producer.start()
    pending = []
    try:
        columns = (
            TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        )  # fmt: skip
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("lines", total=total)
            for number, line in enumerate(lines, start=1):
                progress.advance(task)
                line = line.rstrip(b"\r\n")
                if not line.strip():
                    continue
                event_type = detect_type(line, forced_type)
                result = decode_event(
                    line, event_type, settings.max_event_bytes,
                    settings.event_time_bounds(time.time()),
                )  # fmt: skip
                if isinstance(result, Rejection):
                    summary.rejected.append((number, f"{result.category.value}: {result.reason}"))
                    continue
                key = result.event_id if isinstance(result, FeedbackEvent) else result.case_id
                topic = topics[event_type]
                pending.append(await producer.send(topic, value=line, key=key.encode()))
                summary.accepted += 1
                summary.by_topic[topic] = summary.by_topic.get(topic, 0) + 1
        for delivery in pending:
            await delivery
    finally:
        await producer.stop()
    return summary
