"""The demo/benchmark generator: deterministic, decodable, labelled and realistic enough."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from servicepulse.devtools.generator import FeedbackGenerator, GeneratedRecord
from servicepulse.processors.decoding import RejectCategory, Rejection, decode_event
from servicepulse.processors.sentiment import score_comment
from servicepulse.schemas.models import (
    FEEDBACK_TYPE,
    INTERACTION_TYPE,
    Channel,
    FeedbackEvent,
    InteractionEvent,
    InteractionKind,
)

EVENT_CLASS = {FEEDBACK_TYPE: FeedbackEvent, INTERACTION_TYPE: InteractionEvent}


@pytest.fixture(scope="module")
def records() -> list[GeneratedRecord]:
    return list(FeedbackGenerator(seed=11).records(5_000))


@pytest.fixture(scope="module")
def decoded(
    records: list[GeneratedRecord],
) -> list[tuple[GeneratedRecord, FeedbackEvent | InteractionEvent | Rejection]]:
    return [(record, decode_event(record.value, record.event_type)) for record in records]


def _valid_events(
    decoded: list[tuple[GeneratedRecord, FeedbackEvent | InteractionEvent | Rejection]],
) -> list[FeedbackEvent | InteractionEvent]:
    events = []
    for record, result in decoded:
        if record.kind == "valid":
            assert not isinstance(result, Rejection)
            events.append(result)
    return events


def test_same_seed_gives_identical_output() -> None:
    first = list(FeedbackGenerator(seed=5).records(3_000))
    second = list(FeedbackGenerator(seed=5).records(3_000))
    assert first == second
    assert list(FeedbackGenerator(seed=5).feedback(500)) == list(
        FeedbackGenerator(seed=5).feedback(500)
    )
    assert first != list(FeedbackGenerator(seed=6).records(3_000))


def test_count_and_record_shape(records: list[GeneratedRecord]) -> None:
    assert len(records) == 5_000
    assert list(FeedbackGenerator().records(0)) == []
    for record in records:
        assert record.event_type in (FEEDBACK_TYPE, INTERACTION_TYPE)
        assert record.kind in ("valid", "redelivery", "malformed")
        assert isinstance(record.value, bytes)
        assert (record.expected_category is not None) == (record.kind == "malformed")


def test_valid_and_redelivered_records_decode_to_their_type(
    decoded: list[tuple[GeneratedRecord, FeedbackEvent | InteractionEvent | Rejection]],
) -> None:
    for record, result in decoded:
        if record.kind == "malformed":
            continue
        assert not isinstance(result, Rejection), (result, record.value[:300])
        assert isinstance(result, EVENT_CLASS[record.event_type])
        if record.event_type == FEEDBACK_TYPE:
            assert record.key == result.event_id.encode()
        else:
            assert record.key == str(result.case_id).encode()


def test_malformed_records_reject_with_exactly_their_category(
    decoded: list[tuple[GeneratedRecord, FeedbackEvent | InteractionEvent | Rejection]],
) -> None:
    for record, result in decoded:
        if record.kind != "malformed":
            continue
        assert isinstance(result, Rejection), record.value[:300]
        assert result.category.value == record.expected_category, (result, record.value[:300])


def test_every_reject_category_appears_in_5000_records(records: list[GeneratedRecord]) -> None:
    seen = {record.expected_category for record in records if record.kind == "malformed"}
    # internal_error is the worker's own failure: no published record can ask for it.
    assert seen == {category.value for category in RejectCategory} - {"internal_error"}
    oversize = [r for r in records if r.expected_category == RejectCategory.OVERSIZE.value]
    assert all(len(r.value) > 64 * 1024 for r in oversize)


def test_malformed_records_on_both_topics_and_in_feedback_only_mode() -> None:
    generator = FeedbackGenerator(seed=3, malformed_share=0.3)
    mixed = list(generator.records(1_000))
    assert {r.event_type for r in mixed if r.kind == "malformed"} == {
        FEEDBACK_TYPE,
        INTERACTION_TYPE,
    }
    only = list(FeedbackGenerator(seed=3, malformed_share=0.3).feedback(1_000))
    assert {r.event_type for r in only} == {FEEDBACK_TYPE}
    for record in only:
        result = decode_event(record.value, record.event_type)
        if record.kind == "malformed":
            assert isinstance(result, Rejection)
            assert result.category.value == record.expected_category
        else:
            assert isinstance(result, FeedbackEvent)


def test_schema_violations_come_in_several_sorts(
    decoded: list[tuple[GeneratedRecord, FeedbackEvent | InteractionEvent | Rejection]],
) -> None:
    reasons = {
        result.reason.split(":")[0].split(" (")[0]
        for record, result in decoded
        if isinstance(result, Rejection) and result.category is RejectCategory.SCHEMA_VIOLATION
    }
    assert len(reasons) >= 8, reasons


def test_redeliveries_repeat_earlier_records_exactly(records: list[GeneratedRecord]) -> None:
    earlier: dict[bytes, GeneratedRecord] = {}
    redeliveries = 0
    for record in records:
        if record.kind == "valid":
            assert record.value not in earlier, "valid records are unique"
            earlier[record.value] = record
        elif record.kind == "redelivery":
            redeliveries += 1
            original = earlier[record.value]
            assert (original.event_type, original.key) == (record.event_type, record.key)
    assert 0.015 * len(records) < redeliveries < 0.05 * len(records)


def test_redeliveries_share_event_ids_with_earlier_events(
    decoded: list[tuple[GeneratedRecord, FeedbackEvent | InteractionEvent | Rejection]],
) -> None:
    seen: set[str] = set()
    for record, result in decoded:
        if isinstance(result, Rejection):
            continue
        if record.kind == "valid":
            assert result.event_id not in seen
            seen.add(result.event_id)
        else:
            assert result.event_id in seen


def test_feedback_comments_vary_and_cover_all_sentiments() -> None:
    comments = []
    for record in FeedbackGenerator(seed=2).feedback(1_000):
        if record.kind != "valid":
            continue
        event = decode_event(record.value, record.event_type)
        assert isinstance(event, FeedbackEvent)
        if event.comment is not None:
            comments.append(event.comment)
    assert len(set(comments)) >= 50
    labels = Counter(score.label for score in map(score_comment, comments) if score)
    assert set(labels) == {"negative", "neutral", "positive"}
    assert min(labels.values()) >= 30, labels


def test_feedback_shapes_and_csat_tracks_comment_sentiment() -> None:
    events = [
        event
        for record in FeedbackGenerator(seed=4).feedback(3_000)
        if record.kind == "valid"
        and isinstance(event := decode_event(record.value, record.event_type), FeedbackEvent)
    ]
    assert any(e.comment is None for e in events)
    assert any(e.csat is None and e.drivers is None and e.comment for e in events)
    assert any(e.drivers is not None for e in events)
    assert {e.csat for e in events} >= {1, 2, 3, 4, 5}
    polarity_by_csat: dict[int, list[float]] = defaultdict(list)
    for event in events:
        score = score_comment(event.comment)
        if event.csat is not None and score is not None:
            polarity_by_csat[event.csat].append(score.polarity)
    mean = {csat: sum(values) / len(values) for csat, values in polarity_by_csat.items()}
    assert mean[1] < mean[3] < mean[5]


def test_catalog_channels_and_customers(
    decoded: list[tuple[GeneratedRecord, FeedbackEvent | InteractionEvent | Rejection]],
) -> None:
    events = _valid_events(decoded)
    assert {e.agency for e in events} >= {"ssa", "irs", "va", "uscis", "fema", "cms"}
    assert {(e.agency, e.service) for e in events} >= {
        ("ssa", "retirement"),
        ("ssa", "disability"),
        ("ssa", "replacement_card"),
        ("irs", "refunds"),
        ("irs", "payment_plans"),
        ("irs", "identity_verification"),
        ("va", "health_appointments"),
        ("va", "benefits_claims"),
        ("uscis", "green_card"),
        ("uscis", "naturalization"),
        ("fema", "disaster_assistance"),
        ("cms", "medicare_enrollment"),
    }
    assert {e.channel for e in events} == set(Channel)
    refs = Counter(e.customer_ref for e in events if e.customer_ref)
    assert all(ref.startswith("c-") and len(ref) == 12 for ref in refs)
    assert sum(1 for count in refs.values() if count > 1) > 50  # returning customers


def test_event_time_starts_at_start_and_advances_with_small_jitter() -> None:
    start = datetime(2027, 1, 4, 9, 30, tzinfo=UTC)
    events = []
    for record in FeedbackGenerator(seed=9, start=start).records(4_000):
        if record.kind == "valid":
            event = decode_event(record.value, record.event_type)
            assert not isinstance(event, Rejection)
            assert event.occurred_at.endswith("Z")
            events.append(event)
    times = [event.occurred_at_epoch for event in events]
    assert start.timestamp() - 60 <= times[0] <= start.timestamp() + 60
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert any(gap < 0 for gap in gaps), "some events arrive out of order"
    assert min(gaps) > -60, "but only slightly"
    assert 1.0 < (times[-1] - times[0]) / len(times) < 10.0  # a few seconds apart
    default = next(FeedbackGenerator().records(1))
    event = decode_event(default.value, default.event_type)
    assert not isinstance(event, Rejection)
    assert event.occurred_at.startswith("2026-11-02T08:00:")


def test_case_lifecycles_are_ordered_and_interleaved(
    decoded: list[tuple[GeneratedRecord, FeedbackEvent | InteractionEvent | Rejection]],
) -> None:
    steps: dict[str, list[InteractionEvent]] = defaultdict(list)
    order: list[str] = []
    for event in _valid_events(decoded):
        if isinstance(event, InteractionEvent):
            steps[event.case_id].append(event)
            order.append(event.case_id)
    kinds = Counter(e.kind for case in steps.values() for e in case)
    assert set(kinds) >= set(InteractionKind) - {InteractionKind.REOPENED}
    assert kinds[InteractionKind.OPENED] > kinds[InteractionKind.RESOLVED] > 0
    for case in steps.values():
        assert case[0].kind is InteractionKind.OPENED
        assert [e.kind for e in case].count(InteractionKind.OPENED) == 1
        times = [e.occurred_at_epoch for e in case]
        assert times == sorted(times)
        assert len({e.customer_ref for e in case}) == 1
        for earlier, later in itertools.pairwise(case):
            if earlier.kind is InteractionKind.FIRST_RESPONSE:
                assert later.occurred_at_epoch - earlier.occurred_at_epoch >= 1
            if earlier.kind is InteractionKind.TRANSFERRED:
                assert earlier.to_agency and earlier.to_service
                assert (later.agency, later.service) == (earlier.to_agency, earlier.to_service)
        if case[-1].kind in (InteractionKind.ABANDONED, InteractionKind.SELF_SERVICE_COMPLETED):
            assert [e.kind for e in case].count(case[-1].kind) == 1
    transfers = [
        e for case in steps.values() for e in case if e.kind is InteractionKind.TRANSFERRED
    ]
    assert any(e.to_agency != e.agency for e in transfers), "some go to another agency"
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches > 0.9 * len(order), "cases interleave"


def test_reopened_cases_appear_in_a_long_run() -> None:
    kinds: Counter[str] = Counter()
    for record in FeedbackGenerator(seed=1, malformed_share=0, redelivery_share=0).records(30_000):
        document = json.loads(record.value)
        document = document.get("data", document)
        if record.event_type == INTERACTION_TYPE:
            kinds[document["kind"]] += 1
    assert kinds["reopened"] > 0


def test_cloudevents_envelopes(records: list[GeneratedRecord]) -> None:
    valid = [json.loads(r.value) for r in records if r.kind == "valid"]
    envelopes = [doc for doc in valid if "specversion" in doc]
    assert 0.15 < len(envelopes) / len(valid) < 0.25
    for envelope in envelopes:
        assert envelope["specversion"] == "1.0"
        assert envelope["source"] == f"/agencies/{envelope['data']['agency']}"
        assert envelope["type"] in (FEEDBACK_TYPE, INTERACTION_TYPE)
    assert any("event_id" not in e["data"] and "occurred_at" not in e["data"] for e in envelopes)
    assert any("event_id" in e["data"] for e in envelopes)


def test_shares_are_configurable() -> None:
    clean = list(
        FeedbackGenerator(malformed_share=0, redelivery_share=0, cloudevents_share=0).records(1_000)
    )
    assert {r.kind for r in clean} == {"valid"}
    assert not any(b'"specversion"' in r.value for r in clean)
    feedback_only = list(FeedbackGenerator(case_share=0).records(500))
    assert {r.event_type for r in feedback_only} == {FEEDBACK_TYPE}
    with pytest.raises(ValueError):
        FeedbackGenerator(malformed_share=1.5)


def _event_time_span(generator: FeedbackGenerator, count: int) -> float:
    times = []
    for record in generator.records(count):
        event = decode_event(record.value, record.event_type)
        assert not isinstance(event, Rejection)
        times.append(event.occurred_at_epoch)
    return max(times) - min(times)


def test_arrivals_scale_packs_more_events_into_each_hour() -> None:
    office_hours = datetime(2027, 1, 4, 14, 0, tzinfo=UTC)  # 09:00 at UTC-5, for both runs

    def clean(scale: float) -> FeedbackGenerator:
        return FeedbackGenerator(
            seed=4, start=office_hours, malformed_share=0, redelivery_share=0,
            arrivals_per_hour_scale=scale,
        )  # fmt: skip

    usual, busy = _event_time_span(clean(1.0), 2_000), _event_time_span(clean(10.0), 2_000)
    assert 8.5 < usual / busy < 11.5
    with pytest.raises(ValueError, match="arrivals_per_hour_scale"):
        FeedbackGenerator(arrivals_per_hour_scale=0)
