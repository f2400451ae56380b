"""What one Faust hop costs: a bare agent copying preloaded records to another topic.

The worker pays Faust's per-record machinery (fetch loop, conductor, stream, acks) once per
record it reads and its producer path once per record it writes, several times per event. This
measures that floor without any servicepulse logic: one Faust agent on the embedded broker reads
N preloaded records (4 partitions, 200-byte values) and sends each one on, and the run reports
records per second and per CPU-second of the worker process, for two ways of sending:

* ``topic.send``: Faust's ``Topic.send`` (a FutureMessage, producer lookup and sensor calls per
  record);
* ``producer``: the same record straight on Faust's aiokafka producer, as the worker's
  ``streams.delivery.send_now`` does at least once;
* ``producer+dispatch``: the same, with the worker's delivery of fetched records
  (``streams.consumer_dispatch``) instead of Faust's four tasks per record.

Each mode runs ``--rounds`` times, alternating, each in a fresh worker process on fresh topics.
The worker logs at INFO: at WARNING, Faust's terminal spinner would set the root logger to DEBUG
(the worker turns the spinner off: streams.watchdog).

Usage::

    .venv/bin/python benchmarks/bench_faust_hop.py [--records 30000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from servicepulse.devtools.broker import EmbeddedBroker, free_port

MODES = ("topic.send", "producer", "producer+dispatch")
PARTITIONS = 4


async def preload(bootstrap: str, topics: Sequence[str], records: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in topics])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        sent = [
            await producer.send(topics[0], key=str(i).encode(), value=b"x" * 200)
            for i in range(records)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def child(bootstrap: str, source: str, target: str, records: int, mode: str) -> None:
    """The worker process: one agent, exits printing its rates once it has sent N records."""
    import faust

    from servicepulse.streams import tansu_compat

    tansu_compat.install(fetch_max_wait_ms=100)  # the worker's default
    if mode == "producer+dispatch":
        from servicepulse.streams import consumer_dispatch

        consumer_dispatch.install()
    app = faust.App(
        f"faust-hop-{uuid.uuid4().hex[:8]}", broker=f"kafka://{bootstrap}", store="memory://",
        datadir=tempfile.mkdtemp(prefix="faust-hop-"), web_enabled=False,
        topic_partitions=PARTITIONS, producer_linger=0.05,
        broker_rebalance_timeout=5, broker_session_timeout=5, broker_heartbeat_interval=1,
        consumer_auto_offset_reset="earliest", autodiscover=False,
    )  # fmt: skip
    source_topic = app.topic(source, key_serializer="raw", value_serializer="raw")
    target_topic = app.topic(target, key_serializer="raw", value_serializer="raw")
    started: list[float] = []

    def count(done: int) -> None:
        if not started:
            started.extend((time.perf_counter(), time.process_time()))
        elif done == records:
            wall, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
            # Faust's worker redirects sys.stdout to its log: the parent reads file descriptor 1.
            os.write(1, f"RESULT {records / wall:.0f} {records / cpu:.0f}\n".encode())
            os._exit(0)

    @app.agent(source_topic)
    async def copy(stream: faust.StreamT[bytes]) -> None:
        done = 0
        async for event in stream.events():
            message = event.message
            if mode != "topic.send":
                producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
                await producer.send(target, message.value, key=message.key)
            else:
                await target_topic.send(key=message.key, value=message.value)
            done += 1
            count(done)

    sys.argv = [sys.argv[0], "worker", "--loglevel", "info"]
    app.main()


def one_run(bootstrap: str, records: int, mode: str) -> tuple[int, int]:
    run = uuid.uuid4().hex[:8]
    source, target = f"hop-in-{run}", f"hop-out-{run}"
    asyncio.run(preload(bootstrap, [source, target], records))
    command = [sys.executable, __file__, "--child", mode, "--bootstrap", bootstrap,
               "--source", source, "--target", target, "--records", str(records)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    for line in out.decode().splitlines():
        if line.startswith("RESULT "):
            wall, cpu = line.split()[1:]
            return int(wall), int(cpu)
    raise RuntimeError(f"the {mode} worker printed no result")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.bootstrap, args.source, args.target, args.records, args.child)
        return 0
    per_cpu: dict[str, list[int]] = {mode: [] for mode in MODES}
    with EmbeddedBroker(free_port()) as broker:
        print(f"embedded Tansu broker on {broker.bootstrap}; {args.records} records per run")
        for _ in range(args.rounds):
            for mode in MODES:
                wall, cpu = one_run(broker.bootstrap, args.records, mode)
                per_cpu[mode].append(cpu)
                print(f"{mode:>17}: {wall:>6} records/s, {cpu:>6} per CPU-second of the worker")
    medians = {mode: statistics.median(rates) for mode, rates in per_cpu.items()}
    print("median per CPU-second: " + ", ".join(f"{m} {r:.0f}" for m, r in medians.items()))
    print(f"producer / topic.send = {medians['producer'] / medians['topic.send']:.2f}; "
          f"producer+dispatch / producer = "
          f"{medians['producer+dispatch'] / medians['producer']:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
