"""Worker health metrics: consumer lag per assigned partition."""

from __future__ import annotations

import faust
from faust.exceptions import NotReady

from servicepulse.streams.metrics import Metrics

LAG_REPORT_SECONDS = 5.0


def register_health(app: faust.App, metrics: Metrics) -> None:
    @app.timer(LAG_REPORT_SECONDS)  # type: ignore[untyped-decorator]
    async def report_consumer_lag() -> None:
        """Lag = the partition's high-water mark minus this worker's fetch position."""
        if app.should_stop:
            return
        metrics.consumer_lag.clear()
        for tp in sorted(app.assignor.assigned_actives()):
            try:
                position = await app.consumer.position(tp)
                highwater = app.consumer.highwater(tp)
            except (NotReady, KeyError, AssertionError):
                continue  # partition moving in a rebalance: reported next time
            if position is None or highwater is None:
                continue
            metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                max(0, highwater - position)
            )
