"""Alert gauges follow partition ownership: a worker that loses partitions in a rebalance stops
exporting `servicepulse_alerts_firing` for them, so no alert stays firing from a worker that no
longer owns its group.

One worker drives eight groups' abandonment_rate into breach (every case abandoned; five-minute
alert window, no `for`, so the first final fires). A second worker joins; the
first's gauges are cleared on revocation: afterwards it exports at most the groups it still
owns, never the ones now on the second worker.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from servicepulse.streams.settings import Settings
from tests.integration.support import WorkerProcess, produce, wait_caught_up, wait_for

pytestmark = pytest.mark.integration

AGENCIES = [f"ag{index}" for index in range(8)]
ENV = {
    "SERVICEPULSE_ALERT_WINDOW": "five_minutes",
    "SERVICEPULSE_ALERT_FOR_SECONDS": "0",
}
GRACE = 600  # the default: cases of one group reach its window agent in any order


def _firing(worker: WorkerProcess) -> set[str]:
    """Agencies whose abandonment_rate critical alert gauge is 1 on this worker."""
    found: set[str] = set()
    for family in text_string_to_metric_families(worker.metrics_text()):
        if family.name != "servicepulse_alerts_firing":
            continue
        for sample in family.samples:
            labels = sample.labels
            if (labels["standard"], labels["severity"], sample.value) == (
                "abandonment_rate", "critical", 1.0,
            ):  # fmt: skip
                found.add(labels["agency"])
    return found


def _at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _abandoned_cases(agency: str, times: list[float]) -> list[tuple[bytes, bytes]]:
    records: list[tuple[bytes, bytes]] = []
    for closed in times:
        case_id = f"{agency}-case-{closed:.0f}"
        group: dict[str, Any] = {"agency": agency, "service": "permits", "channel": "web",
                                 "case_id": case_id}  # fmt: skip
        for serial, (kind, at) in enumerate((("opened", closed - 5), ("abandoned", closed))):
            event = {"event_id": f"{case_id}-{serial}", "occurred_at": _at(at), "kind": kind,
                     **group}  # fmt: skip
            records.append((case_id.encode(), json.dumps(event).encode()))
    return records


async def test_alert_gauges_are_cleared_when_partitions_are_revoked(
    settings: Settings, start_worker: type[WorkerProcess]
) -> None:
    first = start_worker(extra_env=ENV).start()
    first.wait_ready(90)
    # Aligned to the five-minute windows, far enough back that every window can close.
    start = (datetime.now(UTC).timestamp() // 300) * 300 - 3600
    # 25 abandoned cases per group inside one five-minute window; then, once they are all
    # counted, one case past the window's end plus grace: it closes the window, whose final
    # drives the alert.
    for times in ([start + 10 + index for index in range(25)], [start + 300 + GRACE + 60]):
        records = [record for agency in AGENCIES for record in _abandoned_cases(agency, times)]
        await produce(settings.kafka_bootstrap, settings.topic_interactions, records)
        await wait_caught_up(settings, timeout=180)
    try:
        await asyncio.to_thread(
            wait_for, lambda: _firing(first) == set(AGENCIES), 120, "every group firing"
        )
    except AssertionError:
        print(
            "\n".join(
                line
                for line in first.metrics_text().splitlines()
                if "deadletter" in line
                or "alerts_firing" in line
                or "window_observations" in line
                or "sli_obs" in line
            )
        )
        raise

    second = start_worker(extra_env=ENV).start()
    second.wait_ready(90)
    # The rebalance revokes the first worker's partitions: its gauges go (and come back only
    # for the groups it still owns, at their next window).
    await asyncio.to_thread(
        wait_for, lambda: _firing(first) != set(AGENCIES), 120, "first worker's gauges cleared"
    )
    moved = set(AGENCIES) - _firing(first)
    assert moved, "no group left the first worker"
    assert not _firing(first) & _firing(second)
