"""The worker's partitioner puts every key where Kafka's default partitioner does."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from servicepulse.streams.partitioner import murmur2, partition_by_key


@given(st.binary(max_size=200))
def test_the_hash_is_kafkas_murmur2_for_any_bytes(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=64))
def test_a_key_goes_to_the_partition_the_default_partitioner_picks(key: bytes, n: int) -> None:
    partitions = list(range(n))
    assert partition_by_key(key, partitions, partitions) == DefaultPartitioner()(
        key, partitions, partitions
    )


def test_known_hashes_of_the_java_client() -> None:
    # Values from Apache Kafka's UtilsTest.testMurmur2 (signed ints there).
    cases = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
             b"a-little-bit-longer-string": -1486304829,
             b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
             b"abc": 479470107}  # fmt: skip
    for key, signed in cases.items():
        assert murmur2(key) == signed & 0xFFFFFFFF


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    assert partition_by_key(None, [0, 1, 2, 3], [2]) == 2
    assert partition_by_key(None, [0, 1], []) in (0, 1)
