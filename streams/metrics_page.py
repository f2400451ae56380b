"""The worker's /metrics page at a bounded cost.

Rendering the registry is pure Python over every sample: ~9,700 samples (1.3 MB) after a few
thousand events of the demo data took 0.5–0.7 s per scrape on 2 shared cores, all of it on the
event loop, so every scrape stalled every agent that long. The page is rendered in a thread (the
loop keeps switching in between) and reused for ``min_interval`` seconds, so any number of
scrapers costs at most one render per interval. prometheus_client's ``*_created`` series (one
per counter and histogram child, a tenth of the page, read by no rule or dashboard) are off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest


def skip_created_series() -> None:
    """Process-wide: prometheus_client reads the switch whenever it renders."""
    disable_created_metrics()  # type: ignore[no-untyped-call]


class MetricsPage:
    def __init__(
        self,
        registry: CollectorRegistry,
        min_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.min_interval = min_interval
        self.clock = clock
        self._body: bytes | None = None
        self._rendered_at = 0.0
        self._lock = asyncio.Lock()

    async def body(self) -> bytes:
        async with self._lock:  # concurrent scrapes wait for one render
            if self._body is None or self.clock() - self._rendered_at >= self.min_interval:
                self._body = await asyncio.to_thread(generate_latest, self.registry)
                self._rendered_at = self.clock()
            return self._body
