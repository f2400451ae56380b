"""Python's cyclic garbage collector, set for a worker that allocates on every record.

Python collects its youngest generation every 700 net allocations of container objects. A
worker allocates dozens per record (decoded events, envelopes, futures, table values), so at
a thousand events a second it ran a young collection every few milliseconds, and every tenth
of every tenth one was a full collection walking every table value in memory: 7.1 % of the
feedback worker's CPU, with full collections of up to 107 ms (benchmarks/gc_probe). Almost
everything a record allocates is freed by reference counting; the collector is only for
cycles, which the worker's hot path does not make. Collected every 50,000 allocations, the
young generation costs about the same per object, far fewer objects survive into the older
generations, and full collections come 70 times less often: 0.7 % of the CPU, longest run 21 ms.
"""

from __future__ import annotations

import gc


def tune(young_threshold: int) -> None:
    """Sets the young generation's threshold for this process (SERVICEPULSE_GC_YOUNG_THRESHOLD);
    the older generations keep Python's own (each collected once per ten of the one below),
    so 700 is Python's default collector."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)
