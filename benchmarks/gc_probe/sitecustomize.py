"""How much of a process's time Python's cyclic garbage collector takes, for the worker's
collector setting (streams/collector.py). Put this directory on PYTHONPATH and every Python
process started with it (the benchmark, its broker launcher, the worker) writes, every 2 s and
at exit, one line to ``$GC_PROBE_DIR/gc.<pid>`` (default: the temporary directory)::

    GC_PROBE_DIR=/tmp/gc PYTHONPATH=benchmarks/gc_probe \\
        .venv/bin/python benchmarks/bench_feedback.py --events 6000 --latency-events 300 \\
        --comment-words 6-30

The worker is the file with the largest CPU time. Compare Python's default with
``SERVICEPULSE_GC_YOUNG_THRESHOLD=700``.
"""

from __future__ import annotations

import atexit
import gc
import os
import tempfile
import threading
import time
from typing import Any

_OUT = os.path.join(os.environ.get("GC_PROBE_DIR", tempfile.gettempdir()), f"gc.{os.getpid()}")
_started = [0.0]
_seconds = [0.0]
_runs = [0, 0, 0]
_longest = [0.0, 0.0, 0.0]


def _timed(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    took, generation = time.perf_counter() - _started[0], info["generation"]
    _seconds[0] += took
    _runs[generation] += 1
    _longest[generation] = max(_longest[generation], took)


def _write() -> None:
    longest = ", ".join(f"{1000 * seconds:.1f}" for seconds in _longest)
    with open(_OUT, "w") as out:
        out.write(
            f"collector {_seconds[0]:.3f} s of {time.process_time():.3f} s CPU; runs per "
            f"generation {_runs}; longest run per generation {longest} ms; thresholds "
            f"{gc.get_threshold()}\n"
        )


def _every_two_seconds() -> None:
    while True:
        time.sleep(2)
        _write()


gc.callbacks.append(_timed)
atexit.register(_write)
threading.Thread(target=_every_two_seconds, daemon=True).start()
