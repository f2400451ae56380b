"""Create the topics servicepulse needs before anything subscribes to them.

A topic auto-created by a consumer's metadata request gets the broker's default partition count,
which then clashes with the changelog topics Faust creates: so all are created here, up front.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from servicepulse.streams.settings import Settings
from servicepulse.streams.startup import connect_admin

log = logging.getLogger(__name__)

# Dead-letter records carry the original bytes base64-encoded (4/3 larger) plus metadata.
DEADLETTER_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def topic_names(settings: Settings) -> list[str]:
    return [
        settings.topic_feedback,
        settings.topic_interactions,
        settings.topic_scored,
        settings.topic_deadletter,
        settings.internal_feedback_topic,
        settings.internal_interaction_topic,
        settings.topic_windows,
        settings.topic_late,
        settings.topic_alerts,
        settings.internal_observation_topic,
        settings.internal_contact_topic,
        settings.internal_daily_topic,
        settings.topic_journeys,
        settings.topic_benchmarks,
        settings.topic_public,
    ]


async def ensure_topics(
    settings: Settings,
    timeout: float | None = None,
    notify: Callable[[str], None] = log.warning,
) -> list[str]:
    """Create every missing topic; returns the names it created.

    Waits at most ``timeout`` (default SERVICEPULSE_BROKER_WAIT_SECONDS) for the cluster, then
    raises StartupError (see streams.startup.connect_admin)."""
    wait_s = settings.broker_wait_seconds if timeout is None else timeout
    admin = await connect_admin(settings.bootstrap_servers, wait_s, notify)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in topic_names(settings) if name not in existing]
        # Peer ranking needs every group's value in one place: one partition.
        single = {settings.internal_benchmark_topic}
        if settings.internal_benchmark_topic not in existing:
            missing.append(settings.internal_benchmark_topic)
        new_topics = [
            NewTopic(
                name,
                num_partitions=1 if name in single else settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=(
                    {"max.message.bytes": str(DEADLETTER_MAX_MESSAGE_BYTES)}
                    if name == settings.topic_deadletter
                    else {}
                ),
            )
            for name in missing
        ]
        if new_topics:
            # Another worker may have created one of them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new_topics)
        return missing
    finally:
        await admin.close()
