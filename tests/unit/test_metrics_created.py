"""streams.metrics_server: prometheus_client's *_created series are not rendered."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from servicepulse.streams.metrics_server import skip_created_series


def test_created_series_are_off() -> None:
    skip_created_series()
    registry = CollectorRegistry()
    Counter("sp_test_made_total", "events", registry=registry).inc()
    assert b"sp_test_made_created" not in generate_latest(registry)
