"""streams.metrics: every servicepulse_* metric on a private registry, with bounded labels."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from servicepulse.streams import __version__
from servicepulse.streams.metrics import LATENCY_BUCKETS, POLARITY_BUCKETS, Metrics


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry)


def exposition(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def families(text: str) -> dict[str, str]:
    """Metric family name -> type, from the # TYPE lines of the exposition."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))


def sample_names(text: str) -> set[str]:
    return {
        match.group(1)
        for line in text.splitlines()
        if line and not line.startswith("#")
        if (match := re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", line))
    }


def test_build_info(registry: CollectorRegistry, metrics: Metrics) -> None:
    assert registry.get_sample_value("servicepulse_build_info", {"version": __version__}) == 1.0


def test_two_instances_on_fresh_registries_do_not_clash() -> None:
    Metrics(CollectorRegistry())
    Metrics(CollectorRegistry())


def test_counters_read_back(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.events_consumed.labels("feedback", metrics.agency("ssa"), "web").inc()
    metrics.events_consumed.labels("feedback", metrics.agency("ssa"), "web").inc()
    metrics.events_deadlettered.labels("feedback.events", "not_utf8").inc()
    metrics.events_duplicate.labels("feedback").inc(3)
    metrics.feedback_scored.labels("ssa", "web", "positive").inc()
    expected = [
        ("servicepulse_events_consumed_total",
         {"type": "feedback", "agency": "ssa", "channel": "web"}, 2.0),
        ("servicepulse_events_deadlettered_total",
         {"topic": "feedback.events", "category": "not_utf8"}, 1.0),
        ("servicepulse_events_duplicate_total", {"type": "feedback"}, 3.0),
        ("servicepulse_feedback_scored_total",
         {"agency": "ssa", "channel": "web", "sentiment": "positive"}, 1.0),
        ("servicepulse_feedback_scored_total",
         {"agency": "ssa", "channel": "web", "sentiment": "negative"}, None),
    ]  # fmt: skip
    for name, labels, value in expected:
        assert registry.get_sample_value(name, labels) == value, (name, labels)


def test_histograms_and_gauge(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.comment_polarity.labels("ssa").observe(-0.3)
    metrics.comment_polarity.labels("ssa").observe(0.6)
    metrics.processing_latency.labels("feedback").observe(0.02)
    metrics.dedupe_ids.labels("3").set(17)
    get = registry.get_sample_value
    assert get("servicepulse_comment_polarity_count", {"agency": "ssa"}) == 2.0
    # No _sum: prometheus_client omits it for histograms with negative buckets (OpenMetrics).
    assert get("servicepulse_comment_polarity_bucket", {"agency": "ssa", "le": "-0.25"}) == 1.0
    assert get("servicepulse_comment_polarity_bucket", {"agency": "ssa", "le": "+Inf"}) == 2.0
    assert (
        get("servicepulse_processing_latency_seconds_bucket", {"flow": "feedback", "le": "0.025"})
        == 1.0
    )
    assert (
        get("servicepulse_processing_latency_seconds_bucket", {"flow": "feedback", "le": "0.01"})
        == 0.0
    )
    assert get("servicepulse_dedupe_ids", {"partition": "3"}) == 17.0


def test_bucket_layouts() -> None:
    assert list(LATENCY_BUCKETS) == sorted(LATENCY_BUCKETS)
    assert list(POLARITY_BUCKETS) == sorted(POLARITY_BUCKETS)
    assert POLARITY_BUCKETS[-1] == 1.0
    # ±0.1 (the old polarity label rule) stay bucket edges; the label now comes from label_score.
    assert -0.1 in POLARITY_BUCKETS and 0.1 in POLARITY_BUCKETS


def test_agency_label_folds_the_101st_agency(registry: CollectorRegistry) -> None:
    metrics = Metrics(registry, label_cap=100)
    agencies = [f"agency{i:03d}" for i in range(101)]
    for agency in agencies:
        metrics.events_consumed.labels("feedback", metrics.agency(agency), "web").inc()
    get = registry.get_sample_value
    for agency in agencies[:100]:
        assert (
            get(
                "servicepulse_events_consumed_total",
                {"type": "feedback", "agency": agency, "channel": "web"},
            )
            == 1.0
        )
    assert (
        get(
            "servicepulse_events_consumed_total",
            {"type": "feedback", "agency": agencies[100], "channel": "web"},
        )
        is None
    )
    assert (
        get(
            "servicepulse_events_consumed_total",
            {"type": "feedback", "agency": "other", "channel": "web"},
        )
        == 1.0
    )
    # An agency admitted earlier keeps its own series after the cap is reached.
    assert metrics.agency("agency000") == "agency000"
    assert metrics.agency("agency-new") == "other"


def test_default_label_cap_is_100(metrics: Metrics) -> None:
    assert metrics.agency.cap == 100
    assert metrics.service.cap == 100


def test_label_guards_are_per_instance() -> None:
    first = Metrics(CollectorRegistry(), label_cap=1)
    second = Metrics(CollectorRegistry(), label_cap=1)
    assert first.agency("ssa") == "ssa"
    assert second.agency("irs") == "irs"
    assert first.agency("irs") == "other"
    assert first.service("benefits") == "benefits"  # a separate guard from agency


def test_names_prefix_and_counter_suffix(registry: CollectorRegistry, metrics: Metrics) -> None:
    # Touch every labelled metric so each has samples in the exposition.
    metrics.events_consumed.labels("feedback", "ssa", "web").inc()
    metrics.events_deadlettered.labels("feedback.events", "empty").inc()
    metrics.events_duplicate.labels("feedback").inc()
    metrics.feedback_scored.labels("ssa", "web", "none").inc()
    metrics.comment_polarity.labels("ssa").observe(0.0)
    metrics.processing_latency.labels("feedback").observe(0.1)
    metrics.dedupe_ids.labels("0").set(1)
    text = exposition(registry)
    # prometheus_client also emits a <name>_created gauge family per counter and histogram.
    kinds = {n: k for n, k in families(text).items() if not n.endswith("_created")}
    assert all(n.startswith("servicepulse_") for n in families(text))
    assert {
        "servicepulse_build_info",
        "servicepulse_events_consumed_total",
        "servicepulse_events_deadlettered_total",
        "servicepulse_events_duplicate_total",
        "servicepulse_feedback_scored_total",
        "servicepulse_comment_polarity",
        "servicepulse_processing_latency_seconds",
        "servicepulse_dedupe_ids",
    } <= set(kinds)
    for name, kind in kinds.items():
        assert name.startswith("servicepulse_"), name
        if kind == "counter":
            assert name.endswith("_total"), name
    counters = {name for name, kind in kinds.items() if kind == "counter"}
    assert len(counters) >= 4
    names = sample_names(text)
    assert names, text
    for name in names:
        assert name.startswith("servicepulse_"), name
    for counter in counters:
        assert counter.removesuffix("_total") + "_total_total" not in names
    touched = {
        "servicepulse_events_consumed_total",
        "servicepulse_events_deadlettered_total",
        "servicepulse_events_duplicate_total",
        "servicepulse_feedback_scored_total",
    }
    assert touched <= names


def test_no_high_cardinality_label_names(registry: CollectorRegistry, metrics: Metrics) -> None:
    forbidden = {"customer_ref", "case_id", "event_id"}
    for collector in (
        metrics.events_consumed,
        metrics.events_deadlettered,
        metrics.events_duplicate,
        metrics.feedback_scored,
        metrics.comment_polarity,
        metrics.processing_latency,
        metrics.dedupe_ids,
    ):
        assert not forbidden & set(collector._labelnames)


def test_child_is_the_labelled_series_and_survives_clear(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    """child() hands back the series labels() would, once per label set; after clear() the
    next child() is a fresh series the registry exports, not the dropped one."""
    labels = ("ssa", "retirement", "phone", "csat", "one_hour")
    first = metrics.child(metrics.window_value, *labels)
    assert first is metrics.window_value.labels(*labels)
    assert metrics.child(metrics.window_value, *labels) is first
    first.set(0.5)
    metrics.child(metrics.sli_observations, *labels[:4]).inc()
    metrics.clear(metrics.window_value)
    assert registry.get_sample_value("servicepulse_window_value", dict(zip(
        ("agency", "service", "channel", "standard", "window"), labels, strict=True
    ))) is None  # fmt: skip
    again = metrics.child(metrics.window_value, *labels)
    assert again is not first
    again.set(0.75)
    assert registry.get_sample_value("servicepulse_window_value", dict(zip(
        ("agency", "service", "channel", "standard", "window"), labels, strict=True
    ))) == 0.75  # fmt: skip
    # Metrics not cleared keep their children.
    assert metrics.child(metrics.sli_observations, *labels[:4]) is (
        metrics.sli_observations.labels(*labels[:4])
    )
