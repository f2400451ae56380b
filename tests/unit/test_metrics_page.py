"""streams.metrics_page: one render per interval, whatever the number of scrapes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from servicepulse.streams.metrics_page import MetricsPage, skip_created_series


async def test_reuses_the_page_within_the_interval_then_renders_again() -> None:
    registry = CollectorRegistry()
    events = Counter("sp_test_events_total", "events", registry=registry)
    now = [100.0]
    page = MetricsPage(registry, min_interval=5.0, clock=lambda: now[0])
    first = await page.body()
    events.inc()
    now[0] += 4.9
    assert await page.body() is first
    now[0] += 0.1
    fresh = await page.body()
    assert b"sp_test_events_total 1.0" in fresh


async def test_interval_zero_renders_every_scrape() -> None:
    registry = CollectorRegistry()
    events = Counter("sp_test_zero_total", "events", registry=registry)
    page = MetricsPage(registry, min_interval=0.0)
    await page.body()
    events.inc()
    assert b"sp_test_zero_total 1.0" in await page.body()


def test_created_series_are_off() -> None:
    skip_created_series()
    registry = CollectorRegistry()
    Counter("sp_test_made_total", "events", registry=registry).inc()
    assert b"sp_test_made_created" not in generate_latest(registry)
