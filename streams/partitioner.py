"""Kafka's default partitioner, the same partitions, at less cost.

Records with a key go to ``murmur2(key) % partitions`` (the Java client's rule, which aiokafka
and Faust follow), so servicepulse's records land where any other Kafka client would put them.
aiokafka's ``murmur2`` masks and shifts each byte in pure Python: about 3 % of a busy worker's
CPU in py-spy (benchmarks/README.md). This one reads the key four bytes at a time with
``struct`` (2x faster) and gives the same hash for every key (tests/unit/test_partitioner.py);
keys seen lately are looked up, not hashed again.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
# Group keys (agency|service|channel) repeat on every observation; event ids never do. A
# bounded memo keeps the repeats at a dict lookup and costs the rest one insert.
_MEMO_LIMIT = 8192
_memo: dict[bytes, int] = {}


def murmur2(data: bytes) -> int:
    """MurmurHash2 as org.apache.kafka.common.utils.Utils.murmur2, as an unsigned 32-bit int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length & ~3
    for k in struct.unpack_from(f"<{length >> 2}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    tail = length & 3
    if tail == 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h = ((h ^ data[whole]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def partition_by_key(
    key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
) -> int:
    """aiokafka's partitioner interface (``producer_partitioner`` in Faust's settings)."""
    if key is None:
        return random.choice(available or all_partitions)  # as aiokafka's: no key, any
    hashed = _memo.get(key)
    if hashed is None:
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
        hashed = _memo[key] = murmur2(key) & 0x7FFFFFFF
    return all_partitions[hashed % len(all_partitions)]
