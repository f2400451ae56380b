"""GET /metrics from threads of the worker's own, with at most one render at a time.

Faust's web server runs on the event loop: an agent or timer holding the loop for seconds made
scrapes time out (issue 12). Served from threads instead, a scrape only competes for the GIL.
But a render costs real CPU (about 7,000 series, 0.7–0.9 MB, measured 0.4–1.5 s under load on 2
shared cores), and a scrape its client gave up on would go on rendering: with short scrape
intervals, overlapping renders starved the worker. So renders are serialised, and a render
younger than ``max_age_s`` is served again to the scrapes that waited for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class CachedExposition:
    """The registry's text exposition, rendered by one thread at a time."""

    def __init__(self, registry: CollectorRegistry, max_age_s: float = 1.0) -> None:
        self.registry = registry
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._rendered_at = -float("inf")
        self._body = b""
        self.renders = 0

    def body(self) -> bytes:
        with self._lock:
            if time.monotonic() - self._rendered_at >= self.max_age_s:
                self._body = generate_latest(self.registry)
                self._rendered_at = time.monotonic()
                self.renders += 1
            return self._body

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "/") not in ("/metrics", "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /metrics\n"]
        body = self.body()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST),
                                  ("Content-Length", str(len(body)))])  # fmt: skip
        return [body]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape would drown the worker's log


def skip_created_series() -> None:
    """Process-wide: prometheus_client's ``*_created`` series (one per counter and histogram
    child, a tenth of the page, read by no rule or dashboard) are not rendered."""
    disable_created_metrics()  # type: ignore[no-untyped-call]


def serve(
    registry: CollectorRegistry, host: str, port: int, max_age_s: float = 1.0
) -> CachedExposition:
    """Starts serving in a daemon thread; returns the exposition (its render count, for tests).
    A render is reused for ``max_age_s`` (SERVICEPULSE_METRICS_MIN_INTERVAL_SECONDS)."""
    skip_created_series()
    exposition = CachedExposition(registry, max_age_s)
    server = make_server(host, port, exposition, _ThreadingServer, _QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return exposition
