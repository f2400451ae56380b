"""Every servicepulse_* metric, declared once, with help text and bounded labels.

Labels are agency / service / channel / category and similar bounded sets; values beyond a cap
fold into "other". Never customer_ref, case_id or event_id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from processors.labels import BoundedLabelValues
from streams import __version__

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
POLARITY_BUCKETS = (-0.75, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5, 0.75, 1.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry, label_cap: int = 100) -> None:
        self.registry = registry
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
            "Records sent to the dead-letter topic, by source topic and error category",
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
            "Feedback events published on the scored topic, by sentiment label (none: no comment)",
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
        self.dedupe_ids = Gauge(
            "servicepulse_dedupe_ids",
            "event_ids remembered for redelivery detection, per partition of this worker",
            ["partition"],
            registry=registry,
        )
