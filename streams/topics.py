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
from servicepulse.streams.topology import TOPICS

log = logging.getLogger(__name__)


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
