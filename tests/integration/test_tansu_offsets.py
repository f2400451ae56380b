"""The embedded broker's end-offset behaviour that streams/tansu_compat.py corrects. If a Tansu
upgrade fixes it, the first test fails: the correction can then go."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from servicepulse.streams.tansu_compat import true_end_offsets

pytestmark = pytest.mark.integration


async def end_offset_after_batches(bootstrap: str, topic: str, max_batch_size: int) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=200,
                                max_batch_size=max_batch_size)  # fmt: skip
    await producer.start()
    for size in (5, 7):  # two batches (or twelve, with max_batch_size=1)
        for _ in range(size):
            await producer.send(topic, value=b"x", partition=0)
        await producer.flush()
    await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


async def test_end_offset_is_the_start_of_the_last_batch(broker):
    assert await end_offset_after_batches(broker.bootstrap, "offsets.batched", 16384) == 6


async def test_one_record_batches_give_the_true_end_offset(broker):
    assert await end_offset_after_batches(broker.bootstrap, "offsets.single", 1) == 12


async def test_the_correction_finds_the_true_end(broker):
    reported = await end_offset_after_batches(broker.bootstrap, "offsets.corrected", 16384)
    tp = TopicPartition("offsets.corrected", 0)
    assert await true_end_offsets([broker.bootstrap], {tp: reported}) == {tp: 12}
