"""Does the broker answer a waiting fetch when data arrives? Produce→fetch latency per wait.

A plain aiokafka consumer (``fetch_min_bytes=1``) and producer (``linger_ms=0``) on a fresh
embedded Tansu broker; one record every ``--gap`` seconds (±50 %, so records land at random
points of a pending fetch), and for each ``fetch_max_wait_ms`` the time from the producer's
send to the consumer receiving it. Apache Kafka completes a waiting fetch as soon as
``fetch_min_bytes`` are there, so the figure does not depend on the wait there; a broker that
holds the fetch shows latencies that grow with it.

Usage::

    .venv/bin/python benchmarks/bench_fetch_wait.py [--records 40] [--gap 0.4]
        [--waits 1500,500,100] [--bootstrap HOST:PORT]   # another broker, e.g. Apache Kafka
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_feedback import percentile

from servicepulse.devtools.broker import EmbeddedBroker, free_port


async def produce_to_fetch_ms(bootstrap: str, wait_ms: int, records: int, gap: float) -> list[int]:
    topic = f"fetch-wait-{wait_ms}-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=wait_ms,
        fetch_min_bytes=1,
    )
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(topic, b"warm-up")
        await consumer.getone()
        latencies: list[int] = []

        async def receive() -> None:
            for _ in range(records):
                message = await consumer.getone()
                latencies.append(round(time.time() * 1000 - float(message.value or b"0")))

        receiving = asyncio.create_task(receive())
        rng = random.Random(wait_ms)
        for _ in range(records):
            await asyncio.sleep(gap * rng.uniform(0.5, 1.5))
            await producer.send_and_wait(topic, repr(time.time() * 1000).encode())
        await asyncio.wait_for(receiving, timeout=30 + wait_ms / 1000)
        return sorted(latencies)
    finally:
        await consumer.stop()
        await producer.stop()


async def run(bootstrap: str, waits: Sequence[int], records: int, gap: float) -> None:
    print(f"{'fetch_max_wait_ms':>18} {'p50':>6} {'p90':>6} {'max':>6}   ({records} records)")
    for wait in waits:
        latencies = await produce_to_fetch_ms(bootstrap, wait, records, gap)
        p50, p90 = percentile(latencies, 0.5), percentile(latencies, 0.9)
        print(f"{wait:>18} {p50:>6} {p90:>6} {latencies[-1]:>6}   ms produce → fetch")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=40)
    parser.add_argument("--gap", type=float, default=0.4, help="mean seconds between records")
    parser.add_argument("--waits", default="1500,500,100", help="fetch_max_wait_ms values")
    parser.add_argument("--bootstrap", default=None, help="use this broker, not an embedded one")
    args = parser.parse_args(argv)
    waits = [int(w) for w in args.waits.split(",")]
    if args.bootstrap:
        asyncio.run(run(args.bootstrap, waits, args.records, args.gap))
        return 0
    with EmbeddedBroker(free_port()) as broker:
        print(f"embedded Tansu broker on {broker.bootstrap}")
        asyncio.run(run(broker.bootstrap, waits, args.records, args.gap))
    return 0


if __name__ == "__main__":
    sys.exit(main())
