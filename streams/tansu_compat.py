"""Two things Faust needs adjusting for on the embedded Tansu broker.

**Fetch wait.** Faust builds its worker consumer with a hard-coded ``fetch_max_wait_ms=1500``.
Apache Kafka answers a waiting fetch as soon as ``fetch_min_bytes`` (1) is there, so the wait
only bounds idle polling. Tansu holds the fetch instead: with a plain aiokafka consumer, one
record every ~0.4 s, produce→fetch latency was p50 359 / max 728 ms at 1500 ms, 45 / 251 ms at
500 ms and 24 / 69 ms at 100 ms (``benchmarks/bench_fetch_wait.py``). Every hop between agents
paid that, so the worker's consumer gets ``SERVICEPULSE_CONSUMER_FETCH_MAX_WAIT_MS`` (default
100: idle fetches return every 100 ms instead of 1.5 s); on real Kafka 1500 restores Faust's.

**End offsets.** Tansu answers ListOffsets (latest) with the start of a partition's last
record batch + 1, not the offset after its last record (produce 5 then 7 records in two
batches: it answers 6, not 12; pinned down by tests/integration/test_tansu_offsets.py). Faust
restores a table by reading its changelog up to that offset, so the rest of the last batch was
silently skipped after a restart. Its fetch responses carry the right high watermark, so the end
offsets Faust uses for recovery are taken as the larger of the two. On Apache Kafka both agree
and this costs one short fetch per changelog partition at recovery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka

PROBE_SECONDS = 5.0
log = logging.getLogger(__name__)

_original_highwaters = faust_aiokafka.AIOKafkaConsumerThread._highwaters
_original_create_worker_consumer = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer
_fetch_max_wait_ms: int | None = None


async def true_end_offsets(
    bootstrap_servers: list[str], reported: Mapping[Any, int]
) -> dict[Any, int]:
    """``reported`` end offsets raised to the high watermark a fetch from the last reported
    record returns."""
    result = dict(reported)
    probe_from = {tp: end - 1 for tp, end in reported.items() if end > 0}
    if not probe_from:
        return result
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                             enable_auto_commit=False)  # fmt: skip
    await probe.start()
    try:
        probe.assign(list(probe_from))
        for tp, offset in probe_from.items():
            probe.seek(tp, offset)
        pending = set(probe_from)
        deadline = asyncio.get_running_loop().time() + PROBE_SECONDS
        while pending and asyncio.get_running_loop().time() < deadline:
            for tp, records in (await probe.getmany(timeout_ms=500)).items():
                if not records:
                    continue
                watermark = probe.highwater(tp) or 0
                result[tp] = max(result[tp], records[-1].offset + 1, watermark)
                pending.discard(tp)
    finally:
        await probe.stop()
    return result


async def _highwaters_with_true_end(self: Any, partitions: list[Any]) -> Mapping[Any, int]:
    reported = await _original_highwaters(self, partitions)
    if self.consumer.in_transaction:
        return reported
    servers = [f"{url.host}:{url.port or 9092}" for url in self.consumer.app.conf.broker]
    corrected = await true_end_offsets(servers, reported)
    for tp, end in corrected.items():
        if end != reported[tp]:
            log.info("end offset of %s[%s]: broker said %s, its last record ends at %s",
                     tp.topic, tp.partition, reported[tp], end)  # fmt: skip
    return corrected


def _create_worker_consumer_with_fetch_wait(self: Any, transport: Any) -> Any:
    consumer = _original_create_worker_consumer(self, transport)
    if _fetch_max_wait_ms is not None:
        # Read by AIOKafkaConsumer.start() when it builds its fetcher; Faust offers no setting.
        consumer._fetch_max_wait_ms = _fetch_max_wait_ms
    return consumer


def install(fetch_max_wait_ms: int | None = None) -> None:
    """Makes Faust's table recovery read changelogs to their true end and, given a value, its
    worker consumer wait at most ``fetch_max_wait_ms`` per fetch (idempotent)."""
    global _fetch_max_wait_ms
    _fetch_max_wait_ms = fetch_max_wait_ms
    thread = faust_aiokafka.AIOKafkaConsumerThread
    thread._highwaters = _highwaters_with_true_end  # type: ignore[method-assign]
    thread._create_worker_consumer = _create_worker_consumer_with_fetch_wait  # type: ignore[method-assign]
