"""Every servicepulse_* metric, declared once, with help text and bounded labels.

Labels are agency / service / channel / category and similar bounded sets; values beyond a cap
fold into "other". Never customer_ref, case_id or event_id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.metrics import MetricWrapperBase

from servicepulse.processors.labels import BoundedLabelValues
from servicepulse.streams import __version__

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
POLARITY_BUCKETS = (-0.75, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
# Case durations: a minute to a month.
DURATION_BUCKETS = (
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
    86400.0, 172800.0, 432000.0, 864000.0, 2592000.0,
)  # fmt: skip
GROUP_LABELS = ("agency", "service", "channel")
MetricT = TypeVar("MetricT", bound=MetricWrapperBase)
STANDARD_LABELS = (*GROUP_LABELS, "standard")


class Metrics:
    def __init__(self, registry: CollectorRegistry, label_cap: int = 100) -> None:
        self.registry = registry
        # labels() validates its values and takes a lock on every call (about 1 µs, ten times
        # a dict lookup); the per-record paths look their children up here instead (child()).
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}
        self.agency = BoundedLabelValues(label_cap)
        self.service = BoundedLabelValues(label_cap)
        self.build_info = Info(
            "servicepulse_build", "Version of the servicepulse worker", registry=registry
        )
        self.build_info.info({"version": __version__})
        self.events_consumed = Counter(
            "servicepulse_events_consumed_total",
            "Valid events consumed, by event type, agency and channel",
            ["type", "agency", "channel"],
            registry=registry,
        )
        self.events_deadlettered = Counter(
            "servicepulse_events_deadlettered_total",
            "Records the broker acknowledged on the dead-letter topic, by source topic and error "
            "category",
            ["topic", "category"],
            registry=registry,
        )
        self.events_duplicate = Counter(
            "servicepulse_events_duplicate_total",
            "Redelivered events (event_id seen within the dedupe horizon) that produced no output",
            ["type"],
            registry=registry,
        )
        self.feedback_scored = Counter(
            "servicepulse_feedback_scored_total",
            "Feedback events the broker acknowledged on the scored topic, by sentiment label "
            "(none: no comment)",
            ["agency", "channel", "sentiment"],
            registry=registry,
        )
        self.comment_polarity = Histogram(
            "servicepulse_comment_polarity",
            "TextBlob polarity of scored comments (-1 negative to 1 positive)",
            ["agency"],
            buckets=POLARITY_BUCKETS,
            registry=registry,
        )
        self.processing_latency = Histogram(
            "servicepulse_processing_latency_seconds",
            "Seconds from the input record's Kafka timestamp to its output being sent",
            ["flow"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # --- service standards (event-time windows) ---
        self.late_events = Counter(
            "servicepulse_late_events_total",
            "Observations later than the grace period (sent to the late-events topic)",
            ["agency", "standard"],
            registry=registry,
        )
        self.sli_observations = Counter(
            "servicepulse_sli_observations_total",
            "Observations counted against a standard (the SLI denominator)",
            STANDARD_LABELS,
            registry=registry,
        )
        self.sli_good = Counter(
            "servicepulse_sli_good_total",
            "Observations meeting their standard (within target; not abandoned; rated 4-5; …)",
            STANDARD_LABELS,
            registry=registry,
        )
        self.standard_objective = Gauge(
            "servicepulse_standard_objective_ratio",
            "Required share of good observations (durations: objective; max rates: 1 - max)",
            STANDARD_LABELS,
            registry=registry,
        )
        self.window_compliance = Gauge(
            "servicepulse_window_compliance_ratio",
            "Share of observations meeting the target in the latest window",
            (*STANDARD_LABELS, "window"),
            registry=registry,
        )
        self.window_value = Gauge(
            "servicepulse_window_value",
            "Latest window value: share within target (durations) or the rate itself",
            (*STANDARD_LABELS, "window"),
            registry=registry,
        )
        self.window_observations = Gauge(
            "servicepulse_window_observations",
            "Observations in the latest window",
            (*STANDARD_LABELS, "window"),
            registry=registry,
        )
        self.standard_status = Gauge(
            "servicepulse_standard_status",
            "1 for the current status of a standard in the latest window, else 0",
            (*STANDARD_LABELS, "window", "status"),
            registry=registry,
        )
        self.first_response = Histogram(
            "servicepulse_first_response_duration_seconds",
            "Seconds from a case being opened to its first response",
            GROUP_LABELS,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.resolution = Histogram(
            "servicepulse_resolution_duration_seconds",
            "Seconds from a case being opened to its resolution",
            GROUP_LABELS,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.open_cases = Gauge(
            "servicepulse_open_cases",
            "Cases opened and not yet resolved or abandoned, on this worker's partitions",
            ["agency", "service"],
            registry=registry,
        )
        self.open_case_oldest_age = Gauge(
            "servicepulse_open_case_oldest_age_seconds",
            "Event-time age of the oldest open case, on this worker's partitions",
            ["agency", "service"],
            registry=registry,
        )
        self.unanswered_oldest_age = Gauge(
            "servicepulse_unanswered_case_oldest_age_seconds",
            "Event-time age of the oldest open case still waiting on a duration standard (no "
            "first response; not resolved), on this worker's partitions",
            STANDARD_LABELS,
            registry=registry,
        )
        self.unanswered_over_target = Gauge(
            "servicepulse_unanswered_cases_over_target",
            "Open cases still waiting on a duration standard for longer than its target, on "
            "this worker's partitions",
            STANDARD_LABELS,
            registry=registry,
        )
        # --- alerts and health ---
        self.alerts_firing = Gauge(
            "servicepulse_alerts_firing",
            "1 while a breach or at-risk alert is firing for a standard",
            (*STANDARD_LABELS, "severity"),
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "servicepulse_consumer_lag_messages",
            "Messages between this worker's position and the partition's end",
            ["topic", "partition"],
            registry=registry,
        )
        # --- event time (streams.watermarks): per stage task, bounded by stages × partitions
        self.watermark = Gauge(
            "servicepulse_watermark_seconds",
            "Event-time watermark of a stage task (agent, input partition), unix seconds: no "
            "record before it is expected any more; exported once the task has one",
            ["stage", "partition"],
            registry=registry,
        )
        self.watermark_idle = Gauge(
            "servicepulse_watermark_idle",
            "1 while every input of a stage task is idle (its watermark then follows the wall "
            "clock), else 0",
            ["stage", "partition"],
            registry=registry,
        )
        self.input_partition_idle = Gauge(
            "servicepulse_input_partition_idle",
            "1 while an input (ingest) partition has had nothing to read for "
            "SERVICEPULSE_IDLE_TIMEOUT_SECONDS, else 0",
            ["topic", "partition"],
            registry=registry,
        )
        # --- PII protection, journeys, benchmarks ---
        self.pii_redactions = Counter(
            "servicepulse_pii_redactions_total",
            "Identifiers replaced by a typed placeholder in comments, by type (EMAIL, PHONE, …)",
            ["type"],
            registry=registry,
        )
        self.customer_refs_pseudonymized = Counter(
            "servicepulse_customer_refs_pseudonymized_total",
            "customer_ref values that looked like raw PII and were replaced by an HMAC pseudonym",
            registry=registry,
        )
        self.changelog_records_skipped = Counter(
            "servicepulse_changelog_records_skipped_total",
            "Changelog records a table could not restore (not JSON, or a key that is not a "
            "string) and skipped, each logged with its topic, partition and offset",
            ["table"],
            registry=registry,
        )
        self.public_finals_expired = Counter(
            "servicepulse_public_finals_expired_total",
            "Calendar-day finals that arrived after their day left the public feed's state "
            "(SERVICEPULSE_PUBLIC_DAYS_RETENTION_DAYS) and were not published",
            registry=registry,
        )
        self.journeys_run_around = Counter(
            "servicepulse_journeys_run_around_total",
            "Customer journeys newly flagged as run-around, by the agency of the flagging event",
            ["agency"],
            registry=registry,
        )
        self.benchmark_rank = Gauge(
            "servicepulse_benchmark_percentile_rank",
            "Percentile rank (0-100, higher is better) of a group's compliance among its peers",
            STANDARD_LABELS,
            registry=registry,
        )
        self.benchmark_gap = Gauge(
            "servicepulse_benchmark_gap_to_best_in_class",
            "Best-in-class compliance minus the group's (positive: short of best in class)",
            STANDARD_LABELS,
            registry=registry,
        )
        self.dedupe_ids = Gauge(
            "servicepulse_dedupe_ids",
            "event_ids remembered for redelivery detection, per partition of this worker",
            ["partition"],
            registry=registry,
        )

    def child(self, metric: MetricT, *labels: str) -> MetricT:
        """``metric.labels(*labels)``, remembered. A metric looked up here is cleared only
        through ``clear``: a child its metric dropped would take updates no scrape sees."""
        key = (metric, labels)
        found: MetricT | None = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def clear(self, *metrics: MetricWrapperBase) -> None:
        """Drop every series of ``metrics``, and the children remembered for them."""
        for metric in metrics:
            metric.clear()
        self._children = {
            key: child for key, child in self._children.items()
            if not any(key[0] is metric for metric in metrics)
        }  # fmt: skip

    def start_consumed_at_zero(self, types: tuple[str, ...]) -> None:
        """One ``servicepulse_events_consumed_total`` series per event type at 0 from the start
        (agency and channel empty: Prometheus stores it as ``{type="..."}``), so the total,
        and the dead-letter share over it, has a denominator from the first scrape, before
        any valid event; and the first valid events count as an increase from 0."""
        for event_type in types:
            self.events_consumed.labels(event_type, "", "")


def count_when_delivered(counter: Counter) -> Callable[[Any], None]:
    """A callback for Faust's ``topic.send(callback=...)`` that counts the record once the
    broker acknowledged it. Faust calls it from the delivery future only on success, so a
    record still in flight, or one whose send failed, is not counted; and the sender goes on
    without waiting for the acknowledgement (awaiting each one would cost throughput)."""
    return lambda _delivered: counter.inc()
