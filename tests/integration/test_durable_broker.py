"""The embedded broker on directory storage (Tansu on SeaweedFS) survives its own SIGKILL.

Each test has a broker of its own, since it kills it: Tansu and its SeaweedFS server both get
SIGKILL (no shutdown of any kind), then start again on the same directory and port.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from servicepulse.devtools.broker import EmbeddedBroker, SeaweedStore, free_port
from servicepulse.devtools.s3check import S3Endpoint, conditional_checks, race_checks
from tests.integration.support import WorkerProcess, consume, produce, wait_caught_up
from tests.integration.test_windows_flow import (
    assert_nothing_lost,
    publish_events,
    scenario,
    split_log,
    standards_file,  # noqa: F401 (fixture)
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


async def _create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def _produce_each(bootstrap: str, topic: str, values: list[bytes]) -> dict[bytes, int]:
    """One request per record: many record batches, each acknowledged before the kill."""
    positions = await produce(bootstrap, topic, [(value, value) for value in values])
    return {value: partition * 1_000_000 + offset
            for value, (partition, offset) in zip(values, positions, strict=True)}  # fmt: skip


def test_the_shipped_seaweedfs_honours_conditional_puts_atomically(tmp_path: Path) -> None:
    """What Tansu's s3:// storage relies on (devtools/s3check.py); guards the pinned release."""
    store = SeaweedStore(tmp_path / "store").start()
    try:
        endpoint = S3Endpoint(store.endpoint)
        checks = conditional_checks(endpoint, store.BUCKET) + race_checks(endpoint, store.BUCKET)
        assert [c for c in checks if not c.ok] == []
    finally:
        store.stop()


def test_records_survive_a_kill_9_of_the_broker_and_its_store(tmp_path: Path) -> None:
    port, storage = free_port(), tmp_path / "broker"
    broker = EmbeddedBroker(port, storage=storage).start()
    try:
        asyncio.run(_create_topic(broker.bootstrap, "durable", 3))
        before = [f"before-{n}".encode() for n in range(300)]
        acked = asyncio.run(_produce_each(broker.bootstrap, "durable", before))
        broker.kill()
        broker = EmbeddedBroker(port, storage=storage).start()
        after = [f"after-{n}".encode() for n in range(100)]
        acked |= asyncio.run(_produce_each(broker.bootstrap, "durable", after))
        records = asyncio.run(consume(broker.bootstrap, ["durable"],
                                      lambda got: len(got) >= 400, settle=2.0))  # fmt: skip
        read = {r.value: r.partition * 1_000_000 + r.offset for r in records if r.value}
        # Every acknowledged record, at the offset it was acknowledged at, exactly once:
        # the restarted broker appended after the old records, it did not write over them.
        assert len(records) == 400
        assert read == acked
    finally:
        broker.stop()


async def test_a_worker_rides_out_a_kill_9_of_the_durable_broker(
    tmp_path: Path,
    standards_file: Path,  # noqa: F811
) -> None:
    """Mid-stream, the broker and its store are SIGKILLed and restarted on the same
    directory: the same worker process carries on by itself (its topics and changelogs are
    all still there, so no exit code 4), every feedback event is scored and the final
    windows equal the batch recomputation."""
    port, storage = free_port(), tmp_path / "broker"
    broker = EmbeddedBroker(port, storage=storage).start()
    worker: WorkerProcess | None = None
    try:
        settings, env, log, expected = await scenario(
            broker.bootstrap, "durable", standards_file, 31
        )
        # A lost topic would be seen within 2 s (exit code 4).
        env["SERVICEPULSE_TOPIC_CHECK_SECONDS"] = "2"
        worker = WorkerProcess(broker.bootstrap, tmp_path, app_id=settings.app_id, extra_env=env)
        worker.start().wait_ready(120)
        body, after = split_log(log)
        half = len(body) // 2
        await publish_events(settings, body[:half])
        await consume(settings.kafka_bootstrap, [settings.topic_windows],
                      lambda got: len(got) >= 50)  # fmt: skip
        broker.kill()
        broker = EmbeddedBroker(port, storage=storage).start()
        await publish_events(settings, body[half:])
        await wait_caught_up(settings, timeout=240)
        await publish_events(settings, after)
        await assert_nothing_lost(settings, log, expected)
        assert worker.process is not None and worker.process.poll() is None, worker.log_tail()
        assert "are gone from the broker" not in worker.log_tail(5000)
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()


def test_the_broker_command_stops_with_its_store_and_refuses_a_second_on_the_directory(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "broker"

    def command(port: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "servicepulse.streams.cli", "broker",
             "--port", str(port), "--storage", str(storage)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    first = command(free_port())
    try:
        assert first.stderr is not None
        for line in first.stderr:  # the store and Tansu are up
            if b"Ctrl-C stops it" in line:
                break
        children = psutil.Process(first.pid).children(recursive=True)
        assert {Path(c.exe()).name for c in children} >= {"weed"}, children
        second = command(free_port())
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert b"in use (another broker on this directory?)" in err, err
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == []
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
