"""processors.records: the scored-feedback and dead-letter documents; processors.timestamps."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from servicepulse.processors.decoding import RejectCategory, Rejection
from servicepulse.processors.records import (
    DEADLETTER_MAX_KEY_BYTES,
    DEADLETTER_MAX_ORIGINAL_BYTES,
    DEADLETTER_MAX_REASON_CHARS,
    SourcePosition,
    dead_letter,
    dead_letter_key,
    dumps,
    scored_feedback,
)
from servicepulse.processors.sentiment import Sentiment
from servicepulse.processors.timestamps import Precision, rfc3339
from servicepulse.schemas.models import FeedbackEvent

SOURCE = SourcePosition(topic="feedback.events", partition=2, offset=41)
SCORED_AT = 1777644180.5  # 2026-05-01T14:03:00.500Z
RFC3339_MILLIS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


# The event's fields, which a scored document carries unchanged.
EVENT_FIELDS: dict[str, object] = {
    "event_id": "evt-1",
    "occurred_at": "2026-05-01T14:03:00Z",
    "agency": "ssa",
    "service": "benefits",
    "channel": "web",
    "csat": 5,
    "comment": "Great help",
}


def make_event(**overrides: object) -> FeedbackEvent:
    fields = {**EVENT_FIELDS, **overrides}
    # An optional field with no value is omitted (JSON null is rejected by the contract).
    return FeedbackEvent.model_validate({k: v for k, v in fields.items() if v is not None})


# -- rfc3339 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (0.5, "1970-01-01T00:00:00.500Z"),
        (1777644180.5, "2026-05-01T14:03:00.500Z"),
        (1777644180.123456, "2026-05-01T14:03:00.123Z"),
        (1777644180.9999, "2026-05-01T14:03:00.999Z"),
    ],
)
def test_rfc3339(epoch: float, text: str) -> None:
    assert rfc3339(epoch) == text


@pytest.mark.parametrize(
    ("precision", "whole", "fraction"),
    [
        ("milliseconds", "2026-05-01T14:03:00.000Z", "2026-05-01T14:03:00.123Z"),
        ("seconds", "2026-05-01T14:03:00Z", "2026-05-01T14:03:00Z"),
        ("auto", "2026-05-01T14:03:00Z", "2026-05-01T14:03:00.123456Z"),
        ("auto_milliseconds", "2026-05-01T14:03:00Z", "2026-05-01T14:03:00.123Z"),
    ],
)
def test_rfc3339_precisions(precision: Precision, whole: str, fraction: str) -> None:
    assert rfc3339(1777644180, precision) == whole
    assert rfc3339(1777644180.123456, precision) == fraction


def test_rfc3339_is_utc_regardless_of_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    if hasattr(time, "tzset"):
        time.tzset()
    try:
        assert rfc3339(0) == "1970-01-01T00:00:00.000Z"
    finally:
        monkeypatch.undo()
        if hasattr(time, "tzset"):
            time.tzset()


# -- scored_feedback ----------------------------------------------------------------------


def test_scored_feedback_document() -> None:
    sentiment = Sentiment(0.8, 0.75, "positive", 0.6249, "vader-public-service-v1")
    document = scored_feedback(make_event(), sentiment, SOURCE, SCORED_AT)
    assert document == {
        **EVENT_FIELDS,
        "sentiment": {
            "polarity": 0.8,
            "subjectivity": 0.75,
            "label": "positive",
            "label_score": 0.6249,
            "label_method": "vader-public-service-v1",
        },
        "scored_at": "2026-05-01T14:03:00.500Z",
        "source": {"topic": "feedback.events", "partition": 2, "offset": 41},
    }


def test_scored_feedback_of_a_sentiment_read_back_without_label_score() -> None:
    """An internal record written before label_score existed still yields a valid document."""
    sentiment = Sentiment(-0.35, 0.6, "negative")
    document = scored_feedback(make_event(), sentiment, SOURCE, SCORED_AT)
    assert document["sentiment"] == {"polarity": -0.35, "subjectivity": 0.6, "label": "negative"}


def test_scored_feedback_omits_absent_optionals_but_keeps_null_sentiment() -> None:
    event = make_event(comment=None, csat=3)
    document = scored_feedback(event, None, SOURCE, SCORED_AT)
    assert "sentiment" in document and document["sentiment"] is None
    for absent in ("comment", "case_id", "customer_ref", "drivers"):
        assert absent not in document
    assert document["event_id"] == "evt-1"  # top level, not nested


def test_scored_feedback_drivers_and_enum_are_json_values() -> None:
    event = make_event(drivers={"trust": 4, "ease": 2}, channel="mobile_app", case_id="c-1")
    document = scored_feedback(event, None, SOURCE, 0)
    assert document["drivers"] == {"trust": 4, "ease": 2}
    assert document["channel"] == "mobile_app"
    assert type(document["channel"]) is str
    assert document["case_id"] == "c-1"
    assert RFC3339_MILLIS_Z.match(document["scored_at"])
    # Serialises to JSON as is (no enums or dataclasses left inside).
    assert json.loads(dumps(document)) == document


def test_dumps_is_compact_utf8() -> None:
    raw = dumps({"comment": "très bien 👍", "n": 1})
    assert raw == '{"comment":"très bien 👍","n":1}'.encode()


# -- dead_letter --------------------------------------------------------------------------


def _dead(raw: bytes | None, key: bytes | None) -> dict[str, object]:
    rejection = Rejection(RejectCategory.NOT_UTF8, "value is not UTF-8: invalid byte at offset 1")
    return dead_letter(raw, key, rejection, SOURCE, "gov.servicepulse.feedback.v1", SCORED_AT)


@pytest.mark.parametrize(
    "raw", [b'{"a": 1}', b"\x00\xff\xfe\x80binary", bytes(range(256)), "é👍".encode()]
)
def test_dead_letter_original_round_trips_exact_bytes(raw: bytes) -> None:
    document = _dead(raw, None)
    original = document["original"]
    assert isinstance(original, str)
    assert base64.b64decode(original, validate=True) == raw


def test_dead_letter_empty_and_none_value() -> None:
    assert _dead(b"", None)["original"] == ""
    assert _dead(None, None)["original"] == ""


def test_dead_letter_key_none_vs_bytes() -> None:
    assert _dead(b"x", None)["original_key"] is None
    key = b"\xffkey"
    encoded = _dead(b"x", key)["original_key"]
    assert isinstance(encoded, str)
    assert base64.b64decode(encoded, validate=True) == key
    assert _dead(b"x", b"")["original_key"] == ""


def test_dead_letter_fields() -> None:
    document = _dead(b"\xff", b"k")
    assert document == {
        "original": base64.b64encode(b"\xff").decode(),
        "original_size": 1,
        "original_sha256": hashlib.sha256(b"\xff").hexdigest(),
        "original_truncated": False,
        "original_key": base64.b64encode(b"k").decode(),
        "original_key_truncated": False,
        "source": {"topic": "feedback.events", "partition": 2, "offset": 41},
        "category": "not_utf8",
        "reason": "value is not UTF-8: invalid byte at offset 1",
        "expected_type": "gov.servicepulse.feedback.v1",
        "received_at": "2026-05-01T14:03:00.500Z",
    }
    assert type(document["category"]) is str
    json.loads(dumps(document))


@pytest.mark.parametrize("category", list(RejectCategory))
def test_dead_letter_category_is_enum_value(category: RejectCategory) -> None:
    document = dead_letter(
        b"x", None, Rejection(category, "why"), SOURCE, "gov.servicepulse.interaction.v1", 0
    )
    assert document["category"] == category.value
    assert document["expected_type"] == "gov.servicepulse.interaction.v1"
    assert document["received_at"] == "1970-01-01T00:00:00.000Z"


def test_dead_letter_of_a_huge_value_is_truncated_with_size_and_hash() -> None:
    raw = bytes(range(256)) * (5 * 4096)  # 5 MiB
    document = _dead(raw, b"k" * (DEADLETTER_MAX_KEY_BYTES + 1))
    original = base64.b64decode(str(document["original"]), validate=True)
    assert original == raw[:DEADLETTER_MAX_ORIGINAL_BYTES]
    assert document["original_size"] == len(raw)
    assert document["original_sha256"] == hashlib.sha256(raw).hexdigest()
    assert document["original_truncated"] is True
    assert document["original_key_truncated"] is True
    assert len(base64.b64decode(str(document["original_key"]))) == DEADLETTER_MAX_KEY_BYTES
    assert dead_letter_key(b"k" * 10**6) == b"k" * DEADLETTER_MAX_KEY_BYTES


def test_the_largest_dead_letter_fits_what_the_producer_and_topic_accept() -> None:
    """Worst case: value and key over their limits, the longest reason, non-ASCII text."""
    from servicepulse.streams.app import PRODUCER_MAX_REQUEST_BYTES
    from servicepulse.streams.topology import DEADLETTER_MAX_MESSAGE_BYTES

    rejection = Rejection(RejectCategory.SCHEMA_VIOLATION, "👍" * 10**6)
    document = dead_letter(
        b"\xff" * (8 << 20), b"\xfe" * (1 << 20), rejection, SOURCE, "t" * 200, SCORED_AT
    )
    value = dumps(document)
    key = dead_letter_key(b"\xfe" * (1 << 20))
    # Kafka's per-record and per-batch framing adds well under 1 KiB.
    assert len(value) + len(key) + 1024 <= min(
        PRODUCER_MAX_REQUEST_BYTES, DEADLETTER_MAX_MESSAGE_BYTES
    )
    assert len(str(document["reason"])) <= DEADLETTER_MAX_REASON_CHARS


def test_dumps_survives_a_lone_surrogate() -> None:
    raw = dumps({"reason": "field '\udc00x' is odd"})
    assert json.loads(raw) == {"reason": "field '\udc00x' is odd"}
