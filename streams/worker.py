"""Runs one Faust worker: validate settings, create topics, then hand over to Faust."""

from __future__ import annotations

import asyncio
import logging
import sys

from prometheus_client import CollectorRegistry

from servicepulse.processors.standards import load_standards
from servicepulse.streams import collector, metrics_server
from servicepulse.streams.app import create_app, resolve_pseudonym_key
from servicepulse.streams.event_loop import new_event_loop
from servicepulse.streams.settings import Settings
from servicepulse.streams.startup import check_data_dir, check_web_port
from servicepulse.streams.topics import ensure_topics
from servicepulse.streams.watchdog import BoundedStopWorker, register_topic_watch

log = logging.getLogger(__name__)


def serve_metrics(settings: Settings, registry: CollectorRegistry) -> None:
    """GET /metrics on SERVICEPULSE_WEB_HOST:SERVICEPULSE_WEB_PORT, off the event loop, one
    render at a time (streams.metrics_server). Served from before the group is joined, so a
    scrape also answers during recovery."""
    metrics_server.serve(
        registry, settings.web_host, settings.web_port, settings.metrics_min_interval_seconds
    )


def _say(line: str) -> None:
    # Logging is configured by Faust's worker, later; until then, plain lines on stderr.
    print(f"servicepulse: {line}", file=sys.stderr, flush=True)


def run_worker(settings: Settings) -> None:
    """Everything that can be checked locally is checked before anything is created on the
    broker: raises StandardsFileError, MissingPseudonymKey or StartupError (each one line
    naming the problem; StartupError also for an event loop that is not installed and when
    Kafka stays unreachable)."""
    standards = load_standards(settings.standards)
    resolve_pseudonym_key(settings)
    check_data_dir(settings.data_dir)
    check_web_port(settings.web_host, settings.web_port)
    loop = new_event_loop(settings.event_loop)
    created = asyncio.run(ensure_topics(settings, notify=_say))
    if created:
        _say(f"created topics: {', '.join(created)}")
    # asyncio.run closed its loop; Faust's worker runs on the worker's own.
    asyncio.set_event_loop(loop)
    _say(f"event loop: {settings.event_loop} ({type(loop).__module__}.{type(loop).__name__})")
    collector.tune(settings.gc_young_threshold)
    registry = CollectorRegistry()
    app = create_app(settings, standards, registry)
    serve_metrics(settings, registry)
    register_topic_watch(app, settings)
    worker = BoundedStopWorker(
        app, stop_timeout_s=settings.shutdown_timeout_seconds,
        loglevel=settings.log_level.upper(), quiet=True,
    )  # fmt: skip
    worker.execute_from_commandline()
