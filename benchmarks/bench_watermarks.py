"""Event time under a full-speed backlog replay, and what the watermark records cost.

Against a fresh embedded Tansu broker and one real ``servicepulse worker``:

1. A 10-hour case log (600 cases, disorder <= 300 s, 5% redelivered: tests.eventlog) is
   published in one go, then the worker starts on the backlog.
2. Once every final window of time_to_first_response / time_to_resolution has come, they are
   compared with the batch recomputation (tests.reference): checked, mismatches, late.
3. Every record on the internal topics is counted, watermark records apart: their share of
   the internal messages, over the replay and over a following idle stretch.

Usage::

    .venv/bin/python benchmarks/bench_watermarks.py [--idle-seconds S] [--idle-timeout T]

The idle timeout defaults to the worker's (30 s): watermark records of idle or unchanged
tasks go out every third of it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from servicepulse.devtools.broker import EmbeddedBroker, free_port  # noqa: E402
from servicepulse.processors.envelope import is_watermark  # noqa: E402
from servicepulse.streams.settings import DEFAULT_STANDARDS_FILE, Settings  # noqa: E402
from tests.eventlog import generate_backlog  # noqa: E402
from tests.integration.support import WorkerProcess, consume  # noqa: E402
from tests.integration.test_event_time import (  # noqa: E402
    GRACE,
    expected_finals,
    late_observations,
    mismatches,
    replay,
    streamed_finals,
)
from tests.integration.test_windows_flow import isolated_settings  # noqa: E402


def internal_topics(settings: Settings) -> list[str]:
    return [settings.internal_interaction_topic, settings.internal_feedback_topic,
            settings.internal_contact_topic, settings.internal_observation_topic]  # fmt: skip


async def count_internal(settings: Settings) -> tuple[int, int]:
    """(data records, watermark records) on the internal topics so far."""
    records = await consume(settings.kafka_bootstrap, internal_topics(settings),
                            lambda got: True, timeout=120, settle=5.0)  # fmt: skip
    marks = sum(1 for record in records if is_watermark(record.value))
    return len(records) - marks, marks


def share(data: int, marks: int) -> str:
    total = data + marks
    return f"{marks} of {total} ({100 * marks / total:.1f} %)" if total else "none"


async def main(idle_seconds: float, idle_timeout: float) -> None:
    with tempfile.TemporaryDirectory() as scratch, EmbeddedBroker(free_port()) as broker:
        workdir = Path(scratch)
        standards = workdir / "standards.yaml"
        document = yaml.safe_load(DEFAULT_STANDARDS_FILE.read_text())
        del document["defaults"]["standards"]["run_around_rate"]
        document["benchmarks"]["best_in_class"].pop("run_around_rate", None)
        standards.write_text(yaml.safe_dump(document))
        settings, env = await isolated_settings(broker.bootstrap, "benchwm", standards)
        env = {**env, "SERVICEPULSE_GRACE_SECONDS": str(GRACE),
               "SERVICEPULSE_IDLE_TIMEOUT_SECONDS": str(idle_timeout)}  # fmt: skip
        log, tail_start = generate_backlog(hours=10, cases=600, disorder=300, redelivered=0.05)
        expected = expected_finals(log, standards, tail_start)
        await replay(settings, log)
        worker = WorkerProcess(broker.bootstrap, workdir, extra_env=env).start()
        try:
            started = time.monotonic()
            streamed = await streamed_finals(settings, expected, tail_start)
            replay_s = time.monotonic() - started
            late = await late_observations(settings)
            data, marks = await count_internal(settings)
            await asyncio.sleep(idle_seconds)  # a benchmark stretch of wall time, not a wait
            data_after, marks_after = await count_internal(settings)
        finally:
            worker.stop()
    wrong = mismatches(streamed, expected)
    print(f"events published: {len(log)} (10 h of event time, disorder <= 300 s, 5% redelivered)")
    print(f"idle timeout {idle_timeout:g} s; replay to the last final: {replay_s:.1f} s "
          "(worker start included)")  # fmt: skip
    print(f"final windows checked {len(expected)}, mismatches {len(wrong)}, late {len(late)}")
    print(f"watermark records among internal messages, replay: {share(data, marks)}")
    idle_marks = marks_after - marks
    print(f"then {idle_seconds:g} s idle: {data_after - data} data, {idle_marks} watermark "
          f"records ({idle_marks / idle_seconds:.1f}/s)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--idle-timeout", type=float, default=30.0)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.idle_seconds, arguments.idle_timeout))
