"""streams.metrics_server: /metrics off the event loop, one render at a time."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from servicepulse.devtools.broker import free_port
from servicepulse.streams.metrics_server import CachedExposition, serve


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("servicepulse_test_total", "A test counter", registry=registry).inc(3)
    return registry


def test_scrapes_within_max_age_share_one_render() -> None:
    exposition = CachedExposition(_registry(), max_age_s=3600)
    bodies = []
    threads = [threading.Thread(target=lambda: bodies.append(exposition.body())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert exposition.renders == 1
    assert len(set(bodies)) == 1 and b"servicepulse_test_total 3.0" in bodies[0]


def test_an_old_render_is_replaced() -> None:
    exposition = CachedExposition(_registry(), max_age_s=0)
    exposition.body()
    exposition.body()
    assert exposition.renders == 2


def test_served_over_http() -> None:
    port = free_port()
    serve(_registry(), "127.0.0.1", port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain")
        assert b"servicepulse_test_total 3.0" in reply.read()
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=10)
    assert caught.value.code == 404
