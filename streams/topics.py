"""Create the topics servicepulse needs before anything subscribes to them.

A topic auto-created by a consumer's metadata request gets the broker's default partition count,
which then clashes with the changelog topics Faust creates: so all are created here, up front.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from servicepulse.streams.settings import Settings
from servicepulse.streams.topology import TOPICS


async def ensure_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create every missing topic; returns the names it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            break
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in TOPICS if spec.name(settings) not in existing]
        new_topics = [
            NewTopic(
                spec.name(settings),
                num_partitions=spec.partitions(settings),
                replication_factor=settings.replication_factor,
                topic_configs=(
                    {"max.message.bytes": str(spec.max_message_bytes)}
                    if spec.max_message_bytes is not None
                    else {}
                ),
            )
            for spec in missing
        ]
        if new_topics:
            # Another worker may have created one of them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new_topics)
        return [spec.name(settings) for spec in missing]
    finally:
        await admin.close()
