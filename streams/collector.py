"""Python's cyclic garbage collector, set for a worker that allocates on every record.

Python collects its youngest generation every 700 net allocations of container objects. A
worker allocates dozens per record (decoded events, envelopes, futures, table values), so at
a thousand events a second it ran a young collection every few milliseconds, and each one
promoted survivors that later full collections walked again: 7 % of the feedback worker's CPU
(benchmarks/README.md, session 10). Almost everything a record allocates is freed by reference
counting; the collector is only for cycles, which the worker's hot path does not make. So the
young generation is collected a hundred times less often: its collections cost about the same
per object, and far fewer objects survive to be walked again.
"""

from __future__ import annotations

import gc

# Collections of the young generation per collection of the middle one, and of the middle per
# full one (Python's defaults are 10 and 10): with a young threshold this large, the middle and
# old generations fill slowly, and a full collection walks every table value in memory.
MIDDLE_EVERY = 20
OLD_EVERY = 100


def tune(young_threshold: int) -> None:
    """Sets the collector's thresholds for this process (SERVICEPULSE_GC_YOUNG_THRESHOLD)."""
    gc.set_threshold(young_threshold, MIDDLE_EVERY, OLD_EVERY)
