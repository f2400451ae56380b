"""streams.app: the settings reach Faust's configuration (no broker is contacted)."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, generate_latest

from servicepulse.streams.app import create_app
from servicepulse.streams.settings import Settings
from servicepulse.streams.watchdog import BoundedStopWorker


def test_producer_and_group_settings_reach_faust(tmp_path) -> None:
    settings = Settings(
        app_id="sp-conf", data_dir=tmp_path, demo_mode=True, producer_linger_seconds=0.2,
        producer_max_batch_bytes=32768, session_timeout_seconds=7.0,
    )  # fmt: skip
    conf = create_app(settings, registry=CollectorRegistry()).conf
    assert conf.producer_linger == 0.2
    assert conf.producer_max_batch_size == 32768
    assert conf.broker_session_timeout == 7.0
    assert conf.processing_guarantee.value == "at_least_once"


async def test_consumer_fetch_wait_and_compression_reach_the_clients(tmp_path) -> None:
    settings = Settings(
        app_id="sp-fetch", data_dir=tmp_path, demo_mode=True, consumer_fetch_max_wait_ms=250,
        producer_compression="gzip",
    )  # fmt: skip
    app = create_app(settings, registry=CollectorRegistry())
    assert app.conf.producer_compression_type == "gzip"
    # Made inside the running loop (aiokafka requires one), never started.
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    assert consumer._fetch_max_wait_ms == 250
    await consumer.stop()


def test_events_consumed_exists_at_zero_per_event_type_from_the_start(tmp_path) -> None:
    """The dead-letter share has a denominator from the first scrape, before any valid
    event (empty agency and channel: Prometheus stores the series as {type=...})."""
    registry = CollectorRegistry()
    create_app(Settings(app_id="sp-zero", data_dir=tmp_path, demo_mode=True), registry=registry)
    consumed = [
        line for line in generate_latest(registry).decode().splitlines()
        if line.startswith("servicepulse_events_consumed_total")
    ]  # fmt: skip
    assert consumed == [
        'servicepulse_events_consumed_total{agency="",channel="",type="feedback"} 0.0',
        'servicepulse_events_consumed_total{agency="",channel="",type="interaction"} 0.0',
    ]


def test_a_quiet_log_level_leaves_debug_records_unbuilt(tmp_path) -> None:
    """Faust's worker set the root logger to DEBUG for its terminal spinner at WARNING and
    above: every aiokafka debug call then built a record per message sent."""
    app = create_app(
        Settings(app_id="sp-quiet", data_dir=tmp_path, demo_mode=True), registry=CollectorRegistry()
    )
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        for name in ("WARNING", "ERROR"):
            worker = BoundedStopWorker(
                app, stop_timeout_s=1.0, loglevel=name, quiet=True, redirect_stdouts=False
            )
            worker._setup_logging()
            assert root.level == getattr(logging, name)
            assert not logging.getLogger("aiokafka.producer.producer").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
