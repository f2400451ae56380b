"""Per-record CPU costs of two steps every interaction pays several times.

1. ``WindowEngine.apply`` + ``commit`` per observation, on a dict store (the pure core of the
   standard-windows stage, without Faust's table): ``--observations`` csat observations three
   seconds apart across three channels, each with its own offset and origin. Compare trees by
   running the script in each (the figure depends on the engine's code only).
2. One changelog record's key and value bytes: Faust's own path (``prepare_key`` and
   ``prepare_value`` of the changelog topic, through its schema and serializer registry) beside
   ``RestorableTable.changelog_record``, in the same run, with their ratio. The two must be
   the same bytes; the script checks that first.

Prints microseconds per step, best of ``--repeat`` rounds of CPU time (``time.process_time``,
so other load on the machine does not inflate them).

Usage::

    .venv/bin/python benchmarks/bench_record_costs.py [--observations 50000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

import faust

from servicepulse.processors.cases import Observation
from servicepulse.processors.standards import load_standards
from servicepulse.processors.window_engine import Origin, WindowEngine
from servicepulse.streams.restore import RestorableTable
from servicepulse.streams.settings import DEFAULT_STANDARDS_FILE

T0 = 1_793_606_400.0  # 2026-11-02T08:00:00Z
NOW = 1_900_000_000.0
PANE = {"agg": {"count": 3, "good": 2, "sum": 4.5}, "off": 1234, "org": {"svc-x:3": 99}}
PANE_KEY = "p|ssa|retirement|phone|csat|300:1793606400"


def best_per_call(run: Callable[[], int], repeat: int) -> float:
    """Microseconds of CPU per call: ``run`` returns how many calls it made."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        calls = run()
        best = min(best, (time.process_time() - started) / calls)
    return best * 1e6


def window_apply(observations: list[Observation]) -> Callable[[], int]:
    standards = load_standards(DEFAULT_STANDARDS_FILE)

    def run() -> int:
        engine, store = WindowEngine(standards), dict[str, Any]()
        for offset, obs in enumerate(observations):
            engine.commit(store, engine.apply(store, obs, offset, Origin("in:0", offset), 0, NOW))
        return len(observations)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--observations", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = random.Random(7)
    channels = ["phone", "web", "in_person"]
    observations = [
        Observation(
            "ssa", "retirement", rng.choice(channels), "csat", T0 + 3 * n + rng.random(), 1.0
        )
        for n in range(args.observations)
    ]
    apply_us = best_per_call(window_apply(observations), args.repeat)

    app = faust.App("bench-record-costs", broker="kafka://127.0.0.1:1", store="memory://")
    table = RestorableTable(
        app, name="panes", default=None, partitions=8, key_type=str,
        shape=lambda key, value: None, held=None,
    )  # fmt: skip
    changelog = table.changelog_topic

    def faust_path() -> tuple[bytes, bytes]:
        key = changelog.prepare_key(PANE_KEY, table.key_serializer)[0]
        return key, changelog.prepare_value(PANE, table.value_serializer)[0]

    if faust_path() != table.changelog_record(PANE_KEY, PANE, False)[1:]:
        raise SystemExit("changelog_record does not make the bytes Faust's path makes")
    calls = 100_000

    def run_faust() -> int:
        for _ in range(calls):
            faust_path()
        return calls

    def run_codec() -> int:
        for _ in range(calls):
            table.changelog_record(PANE_KEY, PANE, False)
        return calls

    faust_us = best_per_call(run_faust, args.repeat)
    codec_us = best_per_call(run_codec, args.repeat)
    print(f"window apply + commit, per observation     {apply_us:8.2f} us")
    print(f"changelog record bytes, Faust's path        {faust_us:8.2f} us")
    print(f"changelog record bytes, changelog_record    {codec_us:8.2f} us "
          f"(Faust's path takes {faust_us / codec_us:.1f}x as long)")  # fmt: skip


if __name__ == "__main__":
    main()
