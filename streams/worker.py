"""Runs one Faust worker: validate settings, create topics, then hand over to Faust."""

from __future__ import annotations

import asyncio
import logging

import faust

from servicepulse.processors.standards import load_standards
from servicepulse.streams.app import create_app, resolve_pseudonym_key
from servicepulse.streams.settings import Settings
from servicepulse.streams.topics import ensure_topics

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> None:
    """Raises StandardsFileError before touching Kafka if the standards file is unusable."""
    standards = load_standards(settings.standards)
    resolve_pseudonym_key(settings)  # refuse to start before touching Kafka
    created = asyncio.run(ensure_topics(settings))
    if created:
        log.info("created topics: %s", ", ".join(created))
    # asyncio.run closed its loop; Faust's worker runs on a fresh one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, standards)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    worker.execute_from_commandline()
