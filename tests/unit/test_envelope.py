"""processors.envelope: every internal record round-trips, and foreign records are refused."""

from __future__ import annotations

import json
from unittest import mock

import orjson
import pytest

from servicepulse.processors import envelope
from servicepulse.processors.cases import Observation
from servicepulse.processors.envelope import (
    EventRecord,
    ObservationRecord,
    RecordType,
    UnreadableRecord,
    WindowFinalRecord,
)
from servicepulse.processors.records import SourcePosition
from servicepulse.processors.sentiment import Sentiment
from servicepulse.schemas.models import FeedbackEvent, InteractionEvent

SOURCE = SourcePosition("feedback.events", 3, 17)
FEEDBACK = FeedbackEvent.model_validate(
    {"event_id": "fb-1", "occurred_at": "2026-11-02T08:00:00Z", "agency": "ssa",
     "service": "benefits", "channel": "web", "csat": 4, "comment": "fine [EMAIL]"}
)  # fmt: skip
INTERACTION = InteractionEvent.model_validate(
    {"event_id": "i-1", "occurred_at": "2026-11-02T08:00:00Z", "agency": "va",
     "service": "benefits", "channel": "phone", "case_id": "case-1", "kind": "opened",
     "customer_ref": "c-1"}
)  # fmt: skip
OBSERVATION = Observation("va", "benefits", "phone", "time_to_first_response", 1.5e9, 300.0)
EVENTS = frozenset({RecordType.FEEDBACK, RecordType.INTERACTION})
FINAL = {"window_id": "w", "agency": "va", "service": "benefits", "channel": "phone",
         "window": "one_day", "window_start": "2026-11-02T00:00:00.000Z",
         "window_end": "2026-11-03T00:00:00.000Z", "standard": "csat", "count": 3, "hits": 2,
         "compliance": 0.9, "final": True}  # fmt: skip

RECORDS = [
    EventRecord(FEEDBACK, SOURCE, 1.7e9, Sentiment(0.4, 0.6, "positive")),
    EventRecord(INTERACTION, SOURCE, 1.7e9),
    envelope.observation(OBSERVATION, "i-1", SOURCE),
    WindowFinalRecord((FINAL,)),
]
ALL = frozenset(RecordType)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_every_record_round_trips(record: envelope.InternalRecord) -> None:
    raw = envelope.encode(record)
    assert envelope.decode(raw, ALL) == record
    assert isinstance(json.loads(raw)["type"], str)


def test_the_type_field_decides_not_the_payload_shape() -> None:
    raw = envelope.encode(EventRecord(INTERACTION, SOURCE, 1.0))
    assert json.loads(raw)["type"] == "interaction"
    assert isinstance(envelope.decode_event(raw, EVENTS).event, InteractionEvent)
    raw = envelope.encode(EventRecord(FEEDBACK, SOURCE, 1.0))
    assert isinstance(envelope.decode_event(raw, EVENTS).event, FeedbackEvent)


def test_observation_keeps_its_origin() -> None:
    raw = envelope.encode(envelope.observation(OBSERVATION, "i-1", SOURCE))
    record = envelope.decode_observation(raw)
    assert record == ObservationRecord((OBSERVATION,), "i-1", "feedback.events:3", 17)


def test_what_one_record_measured_goes_as_one_record_per_group() -> None:
    csat = Observation("va", "benefits", "web", "csat", 1.5e9, 1.0)
    trust = Observation("va", "benefits", "web", "trust", 1.5e9, 0.0)
    other_group = Observation("va", "benefits", "phone", "csat", 1.5e9, 1.0)
    records = envelope.observation_records([csat, other_group, trust], "e-1", SOURCE)
    assert [r.observations for r in records] == [(csat, trust), (other_group,)]
    assert {(r.origin, r.origin_offset, r.event_id) for r in records} == {
        ("feedback.events:3", 17, "e-1")
    }
    for record in records:
        assert envelope.decode_observation(envelope.encode(record)) == record


def test_a_standard_measured_twice_starts_a_second_record() -> None:
    """The windows stage drops a repeat of a record's offset per group and standard: two
    measurements of one standard in one record would lose the second."""
    first = Observation("va", "benefits", "web", "csat", 1.5e9, 1.0)
    second = Observation("va", "benefits", "web", "csat", 1.6e9, 0.0)
    records = envelope.observation_records([first, second], "e-1", SOURCE)
    assert [r.observations for r in records] == [(first,), (second,)]
    with pytest.raises(ValueError, match="twice"):
        ObservationRecord((first, second), "e-1", "t:0", 1)


def test_nothing_measured_is_no_record() -> None:
    assert envelope.observation_records([], "e-1", SOURCE) == []
    with pytest.raises(ValueError, match="at least one"):
        ObservationRecord((), "e-1", "t:0", 1)


def test_the_single_observation_form_of_earlier_releases_is_still_read() -> None:
    """Records an older worker left on the observations topic, read after an upgrade."""
    document = {"type": "observation", **OBSERVATION.as_dict(), "event_id": "i-1",
                "origin": "feedback.events:3", "origin_offset": 17}  # fmt: skip
    record = envelope.decode_observation(json.dumps(document).encode())
    assert record == ObservationRecord((OBSERVATION,), "i-1", "feedback.events:3", 17)


@pytest.mark.parametrize(
    "observations",
    [
        [],
        {},
        [3],
        [{"standard": "csat", "at": 1.5e9}],
        [{"standard": "csat", "at": 1.5e9, "value": 1.0}] * 2,
    ],
    ids=["empty", "not a list", "not an object", "no value", "a standard twice"],
)
def test_a_foreign_list_of_observations_is_refused(observations: object) -> None:
    document = json.loads(envelope.encode(envelope.observation(OBSERVATION, "i-1", SOURCE)))
    with pytest.raises(UnreadableRecord):
        envelope.decode_observation(json.dumps({**document, "observations": observations}).encode())


def test_bytes_are_parsed_once_per_hop() -> None:
    raw = envelope.encode(RECORDS[0])
    with mock.patch.object(envelope, "orjson", wraps=orjson) as parser:
        envelope.decode_event(raw, EVENTS)
    assert parser.loads.call_count == 1


@pytest.mark.parametrize(
    "raw",
    [None, b"", b"\xff garbage", b"[1]", b"{}", b'{"type": "observation"}',
     b'{"type": "feedback", "event": {"event_id": "x"}}', b'{"type": "window_final"}',
     b'{"type": "window_final", "final": 3}', b'{"kind": "opened"}'],
)  # fmt: skip
def test_foreign_records_are_unreadable_not_exceptions_of_other_kinds(raw: bytes | None) -> None:
    with pytest.raises(UnreadableRecord):
        envelope.decode(raw, ALL)


def test_a_record_of_a_type_the_topic_does_not_carry_is_unreadable() -> None:
    raw = envelope.encode(RECORDS[2])
    with pytest.raises(UnreadableRecord, match="observation"):
        envelope.decode_event(raw, EVENTS)
    with pytest.raises(UnreadableRecord):
        envelope.decode_window_final(raw)


@pytest.mark.parametrize(
    ("at", "value"),
    [
        (2.6e11, 1.0),
        (-62_135_596_800.0, 1.0),
        (1e9, float("nan")),
        (float("nan"), 1.0),
        (1e9, float("inf")),
    ],
)
def test_an_observation_out_of_range_is_refused(at: float, value: float) -> None:
    """Ingest bounds event times; a foreign observation must not bring unbounded times (or
    NaN) into window arithmetic. (json.dumps writes NaN and Infinity, which are not JSON: the
    parser already refuses those.)"""
    measured = {"standard": "csat", "at": at, "value": value}
    group = {"type": "observation", "agency": "a", "service": "s", "channel": "web",
             "event_id": "e", "origin": "t:0", "origin_offset": 1}  # fmt: skip
    for document in ({**group, "observations": [measured]}, {**group, **measured}):
        with pytest.raises(UnreadableRecord, match=r"out of range|not JSON"):
            envelope.decode_observation(json.dumps(document).encode())


def test_an_event_record_dated_out_of_range_is_refused() -> None:
    record = json.loads(envelope.encode(EventRecord(FEEDBACK, SOURCE, 1.0)))
    record["event"]["occurred_at"] = "9999-12-31T23:59:59-14:00"
    with pytest.raises(UnreadableRecord, match="out of range"):
        envelope.decode_event(json.dumps(record).encode(), frozenset({RecordType.FEEDBACK}))


@pytest.mark.parametrize(
    ("field", "value"),
    [("agency", "va|x"), ("service", "Benefits"), ("channel", "fax"), ("standard", 3),
     ("at", "1.5e9"), ("value", True), ("origin_offset", True), ("origin_offset", -1),
     ("event_id", 7), ("origin", None)],
)  # fmt: skip
def test_an_observation_with_a_field_we_never_write_is_refused(field: str, value: object) -> None:
    """Group fields become "|"-joined table keys that timers split again: one foreign record
    with an odd one would break every later pass over the keys."""
    document = json.loads(envelope.encode(envelope.observation(OBSERVATION, "i-1", SOURCE)))
    if field in ("standard", "at", "value"):  # a measurement's own fields
        document["observations"][0][field] = value
    else:
        document[field] = value
    with pytest.raises(UnreadableRecord, match=field):
        envelope.decode_observation(json.dumps(document).encode())


@pytest.mark.parametrize(
    ("field", "value"),
    [("agency", "va|x"), ("channel", "fax"), ("window", None), ("window_end", "zzzz"),
     ("window_end", "2026-11-03T00:00:00Z"), ("window_start", "9999-01-01T00:00:00.000Z"),
     ("count", "3"), ("count", -1), ("hits", 1.5), ("compliance", 1.5), ("compliance", "x")],
)  # fmt: skip
def test_a_window_final_with_a_field_we_never_write_is_refused(field: str, value: object) -> None:
    """Peer ranking compares window ends as text and stores compliance for later rankings;
    the public feed adds counts: a foreign final must not get in with odd ones."""
    raw = json.dumps({"type": "window_final", "final": {**FINAL, field: value}}).encode()
    with pytest.raises(UnreadableRecord, match=field):
        envelope.decode_window_final(raw)


def test_a_window_final_record_carries_a_step_s_finals_and_reads_the_single_form() -> None:
    later = {**FINAL, "agency": "irs"}
    raw = envelope.encode(WindowFinalRecord((FINAL, later)))
    assert envelope.decode_window_final(raw).finals == (FINAL, later)
    single = json.dumps({"type": "window_final", "final": FINAL}).encode()  # earlier releases
    assert envelope.decode_window_final(single).finals == (FINAL,)
    with pytest.raises(UnreadableRecord, match="finals"):
        envelope.decode_window_final(b'{"type": "window_final", "finals": []}')
    with pytest.raises(UnreadableRecord, match="window_end"):
        bad = {**later, "window_end": "zzzz"}
        envelope.decode_window_final(envelope.encode(WindowFinalRecord((FINAL, bad))))


FEEDBACK_TOPIC = frozenset({RecordType.FEEDBACK, RecordType.EVENTS, RecordType.WATERMARK})


def test_an_events_record_carries_event_records_in_order_as_they_were_encoded() -> None:
    records = (EventRecord(FEEDBACK, SOURCE, 1.7e9, Sentiment(0.4, 0.6, "positive")),
               EventRecord(INTERACTION, SOURCE, 1.8e9))  # fmt: skip
    raw = envelope.encode_events([envelope.encode(record) for record in records])
    assert raw == envelope.encode(envelope.EventBatch(records))
    assert envelope.decode(raw, ALL) == envelope.EventBatch(records)
    assert [item["type"] for item in json.loads(raw)["events"]] == ["feedback", "interaction"]


@pytest.mark.parametrize(
    ("events", "reason"),
    [([], "1 to"), ("x", "1 to"), ([{"type": "interaction"}], "interaction"),
     ([{"type": "watermark", "from": "t:0", "watermark": None, "idle": True}], "watermark"),
     ([{"type": "events", "events": []}], "events"), ([3], "None"),
     ([{"type": "feedback", "event": {"event_id": "x"}}], "FeedbackEvent")],
)  # fmt: skip
def test_an_events_record_holds_only_events_its_topic_carries(events: object, reason: str) -> None:
    """Checked event by event, as their own records are: an interaction on the feedback topic,
    a nested record or a watermark inside make the whole record unreadable."""
    raw = json.dumps({"type": "events", "events": events}).encode()
    with pytest.raises(UnreadableRecord, match=reason):
        envelope.decode(raw, FEEDBACK_TOPIC)


def test_an_events_record_is_unreadable_where_its_topic_carries_none() -> None:
    raw = envelope.encode_events([envelope.encode(EventRecord(FEEDBACK, SOURCE, 1.0))])
    with pytest.raises(UnreadableRecord, match="events"):
        envelope.decode(raw, frozenset({RecordType.FEEDBACK, RecordType.WATERMARK}))


def test_an_events_record_carries_at_most_what_origin_offsets_can_number() -> None:
    one = envelope.encode(EventRecord(FEEDBACK, SOURCE, 1.0))
    most = envelope.MAX_EVENTS_PER_RECORD
    assert len(envelope.decode(envelope.encode_events([one] * most), ALL).records) == most  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="1 to"):
        envelope.encode_events([one] * (most + 1))
    too_many = b'{"type":"events","events":[' + b",".join([one] * (most + 1)) + b"]}"
    with pytest.raises(UnreadableRecord, match="1 to"):
        envelope.decode(too_many, ALL)


def test_origin_offsets_are_unique_and_in_order_across_records() -> None:
    """Windows drop an observation whose origin offset is not above the last one seen from
    the same upstream partition: events of consecutive records must number upwards."""
    most = envelope.MAX_EVENTS_PER_RECORD
    places = [envelope.origin_offset(offset, index)
              for offset in range(3) for index in range(most)]  # fmt: skip
    assert places == sorted(set(places))
    # A record of one event in its own form keeps its offset: what earlier releases wrote
    # and windows stored.
    assert envelope.origin_offset(17, None) == 17


OBSERVATIONS_TOPIC = frozenset(
    {RecordType.OBSERVATION, RecordType.OBSERVATIONS, RecordType.WATERMARK}
)


def test_an_observations_record_carries_observation_records_in_order() -> None:
    other = Observation("ssa", "retirement", "web", "csat", 1.6e9, 1.0)
    records = (ObservationRecord((OBSERVATION,), "i-1", "feedback.events:3", 17),
               ObservationRecord((other,), "e-2", "feedback.events:1", 4))  # fmt: skip
    raw = envelope.encode_observations([envelope.encode(record) for record in records])
    assert raw == envelope.encode(envelope.ObservationBatch(records))
    assert envelope.decode(raw, OBSERVATIONS_TOPIC) == envelope.ObservationBatch(records)


@pytest.mark.parametrize(
    ("records", "reason"),
    [([], "1 to"), ("x", "1 to"), ([3], "None"),
     ([{"type": "observations", "records": []}], "observations"),
     ([{"type": "watermark", "from": "t:0", "watermark": None, "idle": True}], "watermark"),
     ([{"type": "observation", "agency": "va"}], "service")],
)  # fmt: skip
def test_an_observations_record_holds_only_observation_records(
    records: object, reason: str
) -> None:
    raw = json.dumps({"type": "observations", "records": records}).encode()
    with pytest.raises(UnreadableRecord, match=reason):
        envelope.decode(raw, OBSERVATIONS_TOPIC)


def test_an_observations_record_is_read_only_where_observations_are() -> None:
    one = envelope.encode(ObservationRecord((OBSERVATION,), "i-1", "t:0", 1))
    with pytest.raises(UnreadableRecord, match="observations"):
        envelope.decode(envelope.encode_observations([one]), FEEDBACK_TOPIC)
    most = envelope.MAX_EVENTS_PER_RECORD
    with pytest.raises(ValueError, match="1 to"):
        envelope.encode_observations([one] * (most + 1))


def test_item_offsets_number_a_record_s_items_upwards_and_a_lone_record_as_its_first() -> None:
    most = envelope.MAX_EVENTS_PER_RECORD
    places = [envelope.item_offset(offset, index) for offset in range(3) for index in range(most)]
    assert places == sorted(set(places))
    assert envelope.item_offset(5, 0) == 5 * most
