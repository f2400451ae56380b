"""Builds the Faust app from validated settings and registers every flow on it."""

from __future__ import annotations

import secrets

import faust
from prometheus_client import CollectorRegistry

from servicepulse.processors.standards import StandardsConfig, load_standards
from servicepulse.streams import consumer_dispatch, recovery_handover, restore, tansu_compat
from servicepulse.streams.cases import register_case_correlation
from servicepulse.streams.feedback import register_feedback_scoring
from servicepulse.streams.health import register_health
from servicepulse.streams.ingest import register_ingest
from servicepulse.streams.journeys import register_journeys
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.partitioner import partition_by_key
from servicepulse.streams.peers import register_peer_benchmarks
from servicepulse.streams.public_feed import register_public_feed
from servicepulse.streams.settings import Settings
from servicepulse.streams.windows import register_windows

# Dead-letter records (base64 of up to a full input record) exceed Kafka's 1 MiB default.
PRODUCER_MAX_REQUEST_BYTES = 4 * 1024 * 1024


class MissingPseudonymKey(Exception):
    """The worker would see raw identifiers it cannot pseudonymise."""


def resolve_pseudonym_key(settings: Settings) -> bytes:
    """The configured HMAC key; in demo mode a random one per run; otherwise refuse."""
    key = settings.pseudonym_key_bytes()
    if key is not None:
        return key
    if settings.demo_mode:
        return secrets.token_bytes(32)
    raise MissingPseudonymKey(
        "no pseudonym key: set SERVICEPULSE_PSEUDONYM_KEY or SERVICEPULSE_PSEUDONYM_KEY_FILE "
        "(at least 16 bytes; customer_ref values that are raw e-mails, phones or SSNs are "
        "replaced by HMAC-SHA256 pseudonyms), or SERVICEPULSE_DEMO_MODE=true for a demo"
    )


def create_app(
    settings: Settings,
    standards: StandardsConfig | None = None,
    registry: CollectorRegistry | None = None,
) -> faust.App:
    """The worker's app; `standards` defaults to loading `settings.standards` (may raise
    StandardsFileError naming the file, location and problem). Its metrics go to `registry`,
    which the caller serves (see streams.worker.serve_metrics)."""
    tansu_compat.install(fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms)
    recovery_handover.install()
    consumer_dispatch.install()
    standards = standards if standards is not None else load_standards(settings.standards)
    pseudonym_key = resolve_pseudonym_key(settings)
    app = faust.App(
        settings.app_id,
        broker=";".join(f"kafka://{server}" for server in settings.bootstrap_servers),
        store=settings.table_store,
        datadir=str(settings.data_dir),
        # /metrics is served by streams.worker from a thread of its own (serve_metrics), not by
        # Faust's web server on the event loop: a loop busy with agents or a timer made
        # scrapes time out (issue 12).
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        processing_guarantee=settings.processing_guarantee,
        broker_rebalance_timeout=settings.rebalance_timeout_seconds,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.heartbeat_interval_seconds,
        producer_max_request_size=PRODUCER_MAX_REQUEST_BYTES,
        producer_max_batch_size=settings.producer_max_batch_bytes,
        # Without a linger every agent's send is its own request and record batch: on Tansu's
        # memory storage that made the broker ~6x costlier in CPU and ~2.5x bigger (see
        # benchmarks/README.md); 50 ms is small next to the fetch waits between hops.
        producer_linger=settings.producer_linger_seconds,
        producer_compression_type=(
            None if settings.producer_compression == "none" else settings.producer_compression
        ),
        # Kafka's default partitioning, computed faster (streams.partitioner).
        producer_partitioner=partition_by_key,
        consumer_auto_offset_reset="earliest",
        # Topics are created up front by streams.topics.ensure_topics, with explicit partitions.
        topic_allow_declare=True,
        autodiscover=False,
    )
    metrics = Metrics(registry if registry is not None else CollectorRegistry())
    restore.count_skips_with(lambda table: metrics.changelog_records_skipped.labels(table).inc())
    register_ingest(app, settings, metrics, pseudonym_key)
    register_feedback_scoring(app, settings, metrics)
    register_case_correlation(app, settings, metrics, standards)
    register_windows(app, settings, metrics, standards)
    register_journeys(app, settings, metrics, standards)
    register_peer_benchmarks(app, settings, metrics, standards)
    register_public_feed(app, settings, metrics)
    register_health(app, metrics)
    return app
