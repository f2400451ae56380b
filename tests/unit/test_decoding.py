"""processors.decoding.decode_event: every rejection category, with reasons that name the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from servicepulse.processors.decoding import (
    DEFAULT_MAX_EVENT_BYTES,
    MAX_JSON_DEPTH,
    EventTimeBounds,
    RejectCategory,
    Rejection,
    decode_event,
    describe_validation_error,
)
from servicepulse.schemas.models import (
    FEEDBACK_TYPE,
    INTERACTION_TYPE,
    Channel,
    FeedbackEvent,
    InteractionEvent,
    InteractionKind,
)

FEEDBACK: dict[str, Any] = {
    "event_id": "evt-1",
    "occurred_at": "2026-05-01T14:03:00Z",
    "agency": "ssa",
    "service": "benefits",
    "channel": "web",
    "csat": 4,
}
INTERACTION: dict[str, Any] = {
    "event_id": "int-1",
    "occurred_at": "2026-05-01T14:03:00+02:00",
    "agency": "ssa",
    "service": "benefits",
    "channel": "phone",
    "case_id": "case-9",
    "kind": "opened",
}


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def rejected(raw: bytes | None, expected_type: str = FEEDBACK_TYPE, **kw: Any) -> Rejection:
    result = decode_event(raw, expected_type, **kw)
    assert isinstance(result, Rejection), result
    return result


def schema_reason(document: Any, expected_type: str = FEEDBACK_TYPE) -> str:
    result = rejected(encode(document), expected_type)
    assert result.category is RejectCategory.SCHEMA_VIOLATION
    return result.reason


def without(document: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in names}


def cloudevent(data: Any = None, **attrs: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "/agencies/ssa/survey",
        "type": FEEDBACK_TYPE,
        "time": "2026-05-02T09:00:00Z",
        "data": without(FEEDBACK, "event_id", "occurred_at") if data is None else data,
    }
    envelope.update(attrs)
    return envelope


# -- accepted -----------------------------------------------------------------------------


def test_bare_feedback_is_accepted() -> None:
    event = decode_event(encode(FEEDBACK), FEEDBACK_TYPE)
    assert isinstance(event, FeedbackEvent)
    assert event.event_id == "evt-1"
    assert event.channel is Channel.WEB
    assert event.csat == 4


def test_bare_interaction_is_accepted() -> None:
    event = decode_event(encode(INTERACTION), INTERACTION_TYPE)
    assert isinstance(event, InteractionEvent)
    assert event.kind is InteractionKind.OPENED
    assert event.case_id == "case-9"


# -- empty / oversize / not_utf8 / malformed_json / not_object ----------------------------


@pytest.mark.parametrize("raw", [b"", None])
def test_empty(raw: bytes | None) -> None:
    result = rejected(raw)
    assert result.category is RejectCategory.EMPTY
    assert result.reason == "record value is empty"


def _padded(size: int) -> bytes:
    """A valid feedback event of exactly ``size`` bytes (padded with a comment)."""
    base = encode({**FEEDBACK, "comment": ""})
    padded = encode({**FEEDBACK, "comment": "x" * (size - len(base))})
    assert len(padded) == size
    return padded


def test_exactly_at_limit_is_accepted() -> None:
    event = decode_event(_padded(300), FEEDBACK_TYPE, max_bytes=300)
    assert isinstance(event, FeedbackEvent)


def test_one_byte_over_limit_is_oversize() -> None:
    result = rejected(_padded(301), max_bytes=300)
    assert result.category is RejectCategory.OVERSIZE
    assert "301 bytes" in result.reason and "300-byte limit" in result.reason


def test_default_limit() -> None:
    assert DEFAULT_MAX_EVENT_BYTES == 64 * 1024
    at_limit = _padded(DEFAULT_MAX_EVENT_BYTES)
    # The comment itself is limited to 10 000 characters, so only the size check is under test:
    # at the limit it must not be "oversize" (it is a schema violation instead).
    assert rejected(at_limit).category is RejectCategory.SCHEMA_VIOLATION
    over = rejected(at_limit + b" ")
    assert over.category is RejectCategory.OVERSIZE


def test_oversize_is_checked_before_decoding() -> None:
    result = rejected(b"\xff" * 10, max_bytes=5)
    assert result.category is RejectCategory.OVERSIZE


@pytest.mark.parametrize(("raw", "offset"), [(b"\xff{}", 0), (b'{"a":"\xc3"}', 6), (b"ab\xfe", 2)])
def test_not_utf8_names_byte_offset(raw: bytes, offset: int) -> None:
    result = rejected(raw)
    assert result.category is RejectCategory.NOT_UTF8
    assert result.reason.endswith(f"offset {offset}")


@pytest.mark.parametrize("raw", [b"{", b"{'a': 1}", b"not json", b'{"a": 1,}', b"{} {}"])
def test_malformed_json(raw: bytes) -> None:
    result = rejected(raw)
    assert result.category is RejectCategory.MALFORMED_JSON
    assert result.reason.startswith("value is not valid JSON: ")
    assert "line 1 column" in result.reason


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"[]", "array"),
        (b'[{"event_id": "x"}]', "array"),
        (b'"hello"', "string"),
        (b"42", "number"),
        (b"4.5", "number"),
        (b"null", "null"),
        (b"true", "boolean"),
        (b"false", "boolean"),
    ],
)
def test_not_object(raw: bytes, kind: str) -> None:
    result = rejected(raw)
    assert result.category is RejectCategory.NOT_OBJECT
    assert result.reason == f"value is a JSON {kind}, expected an object"


# -- schema_violation ---------------------------------------------------------------------


@pytest.mark.parametrize("field", ["event_id", "occurred_at", "agency", "service", "channel"])
def test_missing_field_is_named(field: str) -> None:
    assert schema_reason(without(FEEDBACK, field)) == f"field '{field}' is required"


def test_missing_interaction_field_is_named() -> None:
    assert schema_reason(without(INTERACTION, "kind"), INTERACTION_TYPE) == (
        "field 'kind' is required"
    )


def test_wrong_type_names_field_and_input() -> None:
    reason = schema_reason({**FEEDBACK, "event_id": 5})
    assert reason.startswith("field 'event_id': ")
    assert reason.endswith("(got 5)")


def test_unknown_enum_value() -> None:
    reason = schema_reason({**FEEDBACK, "channel": "fax"})
    assert reason.startswith("field 'channel': ")
    assert "'web'" in reason and '(got "fax")' in reason


def test_interaction_unknown_kind() -> None:
    reason = schema_reason({**INTERACTION, "kind": "teleported"}, INTERACTION_TYPE)
    assert reason.startswith("field 'kind': ")


def test_extra_field_is_not_part_of_contract() -> None:
    assert schema_reason({**FEEDBACK, "priority": "high"}) == (
        "field 'priority' is not part of the contract"
    )


def test_timestamp_without_offset() -> None:
    reason = schema_reason({**FEEDBACK, "occurred_at": "2026-05-01T14:03:00"})
    assert reason.startswith("field 'occurred_at': must be an RFC 3339 date-time with offset")


def test_impossible_calendar_date() -> None:
    reason = schema_reason({**FEEDBACK, "occurred_at": "2026-02-30T10:00:00Z"})
    assert reason.startswith("field 'occurred_at': is not a real calendar date-time")
    assert "2026-02-30" in reason


@pytest.mark.parametrize("rating", [0, 6, "4", True, 4.5, -1])
def test_bad_csat(rating: Any) -> None:
    reason = schema_reason({**FEEDBACK, "csat": rating})
    assert reason.startswith("field 'csat': ")
    assert reason.endswith(f"(got {json.dumps(rating)})")


def test_csat_float_with_integer_value_is_accepted_as_int() -> None:
    event = decode_event(encode({**FEEDBACK, "csat": 4.0}), FEEDBACK_TYPE)
    assert isinstance(event, FeedbackEvent)
    assert event.csat == 4
    assert type(event.csat) is int


def test_csat_null_is_rejected() -> None:
    reason = schema_reason({**FEEDBACK, "csat": None})
    assert reason.startswith("field 'csat': must be omitted rather than null")


def test_nested_driver_path_is_dotted() -> None:
    reason = schema_reason({**FEEDBACK, "drivers": {"ease": 9}})
    assert reason.startswith("field 'drivers.ease': ")


def test_model_level_error_has_no_field_prefix() -> None:
    reason = schema_reason(without(FEEDBACK, "csat"))
    assert reason == "feedback needs at least one of csat, drivers or comment"


def test_several_problems_joined_with_semicolons() -> None:
    reason = schema_reason({**without(FEEDBACK, "agency"), "channel": "fax", "zzz": 1})
    parts = reason.split("; ")
    assert len(parts) == 3
    assert "field 'agency' is required" in parts
    assert "field 'zzz' is not part of the contract" in parts
    assert any(p.startswith("field 'channel': ") for p in parts)


def test_feedback_on_interaction_topic_is_schema_violation() -> None:
    # A bare event carries no type; it is validated as the topic's type.
    reason = schema_reason(FEEDBACK, INTERACTION_TYPE)
    assert "field 'case_id' is required" in reason
    assert "field 'kind' is required" in reason
    assert "field 'csat' is not part of the contract" in reason


# -- CloudEvents --------------------------------------------------------------------------


def test_cloudevent_id_and_time_fill_missing_fields() -> None:
    event = decode_event(encode(cloudevent()), FEEDBACK_TYPE)
    assert isinstance(event, FeedbackEvent)
    assert event.event_id == "ce-1"
    assert event.occurred_at == "2026-05-02T09:00:00Z"


def test_cloudevent_data_fields_win_over_envelope() -> None:
    event = decode_event(encode(cloudevent(data=FEEDBACK)), FEEDBACK_TYPE)
    assert isinstance(event, FeedbackEvent)
    assert event.event_id == "evt-1"
    assert event.occurred_at == "2026-05-01T14:03:00Z"


def test_cloudevent_without_time_and_without_occurred_at_is_rejected() -> None:
    envelope = without(cloudevent(), "time")
    assert schema_reason(envelope) == "field 'occurred_at' is required"


def test_cloudevent_without_time_uses_data_occurred_at() -> None:
    envelope = without(cloudevent(data=without(FEEDBACK, "event_id")), "time")
    event = decode_event(encode(envelope), FEEDBACK_TYPE)
    assert isinstance(event, FeedbackEvent)
    assert event.occurred_at == FEEDBACK["occurred_at"]
    assert event.event_id == "ce-1"


def test_cloudevent_interaction() -> None:
    envelope = cloudevent(data=without(INTERACTION, "event_id"), type=INTERACTION_TYPE)
    event = decode_event(encode(envelope), INTERACTION_TYPE)
    assert isinstance(event, InteractionEvent)
    assert event.event_id == "ce-1"
    assert event.occurred_at == INTERACTION["occurred_at"]


def test_cloudevent_extension_attributes_are_allowed() -> None:
    envelope = cloudevent(partitionkey="ssa", traceparent="00-abc", sequence=7, replay=False)
    assert isinstance(decode_event(encode(envelope), FEEDBACK_TYPE), FeedbackEvent)


def test_cloudevent_specversion_03_rejected() -> None:
    reason = schema_reason(cloudevent(specversion="0.3"))
    assert reason.startswith("CloudEvents envelope: ")
    assert "field 'specversion' must be \"1.0\"" in reason
    assert "'0.3'" in reason


@pytest.mark.parametrize("name", ["id", "source", "type"])
def test_cloudevent_missing_required_attribute_named(name: str) -> None:
    reason = schema_reason(without(cloudevent(), name))
    assert reason == f"CloudEvents envelope: field '{name}' is required"


def test_cloudevent_empty_source_rejected() -> None:
    reason = schema_reason(cloudevent(source=""))
    assert "field 'source' must be a non-empty string" in reason


@pytest.mark.parametrize("data", [[1, 2], "text", 3, None])
def test_cloudevent_data_not_object_rejected(data: Any) -> None:
    envelope = cloudevent()
    envelope["data"] = data
    reason = schema_reason(envelope)
    assert reason == "CloudEvents field 'data' must be a JSON object holding the event"


def test_cloudevent_missing_data_rejected() -> None:
    reason = schema_reason(without(cloudevent(), "data"))
    assert "'data'" in reason


def test_cloudevent_time_without_offset_rejected() -> None:
    reason = schema_reason(cloudevent(time="2026-05-02T09:00:00"))
    assert reason.startswith("CloudEvents envelope: field 'time': ")


def test_cloudevent_bad_attribute_name_rejected() -> None:
    reason = schema_reason(cloudevent(traceId="abc"))
    assert "field 'traceId' is not a CloudEvents attribute name" in reason


def test_cloudevent_object_extension_value_rejected() -> None:
    reason = schema_reason(cloudevent(partitionkey={"a": 1}))
    assert "extension field 'partitionkey' must be a string, integer or boolean" in reason


def test_cloudevent_unknown_type() -> None:
    result = rejected(encode(cloudevent(type="com.example.other.v1")))
    assert result.category is RejectCategory.UNKNOWN_EVENT_TYPE
    assert "'com.example.other.v1'" in result.reason
    assert "is not a servicepulse event type" in result.reason
    assert f"this topic accepts {FEEDBACK_TYPE!r}" in result.reason


def test_cloudevent_other_servicepulse_type_on_wrong_topic() -> None:
    envelope = cloudevent(data=without(INTERACTION, "event_id"), type=INTERACTION_TYPE)
    result = rejected(encode(envelope), FEEDBACK_TYPE)
    assert result.category is RejectCategory.UNKNOWN_EVENT_TYPE
    assert "belongs on another topic" in result.reason
    assert INTERACTION_TYPE in result.reason

    result = rejected(encode(cloudevent()), INTERACTION_TYPE)
    assert result.category is RejectCategory.UNKNOWN_EVENT_TYPE
    assert "belongs on another topic" in result.reason


def test_cloudevent_data_schema_errors_are_reported_as_data_fields() -> None:
    reason = schema_reason(cloudevent(data={**without(FEEDBACK, "event_id"), "csat": 6}))
    assert reason.startswith("field 'csat': ")


# -- describe_validation_error ------------------------------------------------------------


def _validation_error(document: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        FeedbackEvent.model_validate(document)
    return info.value


def test_describe_validation_error_format() -> None:
    err = _validation_error(
        {**without(FEEDBACK, "service"), "csat": "4", "extra": 1, "drivers": {"trust": 0}}
    )
    described = describe_validation_error(err)
    parts = described.split("; ")
    assert "field 'service' is required" in parts
    assert "field 'extra' is not part of the contract" in parts
    assert "field 'csat': must be an integer from 1 to 5 (got \"4\")" in parts
    assert any(p.startswith("field 'drivers.trust': ") and p.endswith("(got 0)") for p in parts)
    assert "Value error, " not in described
    assert len(parts) == len(err.errors())


def test_describe_validation_error_truncates_long_input() -> None:
    err = _validation_error({**FEEDBACK, "agency": "A" * 500})
    described = describe_validation_error(err)
    assert described.startswith("field 'agency': ")
    shown = described[described.index("(got ") + len("(got ") : -1]
    assert len(shown) == 80
    assert shown == json.dumps("A" * 500)[:80]


def test_describe_validation_error_model_level_message_unprefixed() -> None:
    err = _validation_error(without(FEEDBACK, "csat"))
    assert describe_validation_error(err) == (
        "feedback needs at least one of csat, drivers or comment"
    )


# -- poison values: ambiguous, unrepresentable, too deep, not JSON data, out of time --------

OCCURRED = 1_777_644_180.0  # FEEDBACK's occurred_at, 2026-05-01T14:03:00Z


def test_a_key_repeated_in_one_object_is_rejected_naming_it() -> None:
    raw = b'{"event_id": "a", "csat": 4, "csat": 1}'
    result = rejected(raw)
    assert result.category is RejectCategory.MALFORMED_JSON
    assert "'csat' appears twice" in result.reason


def test_a_repeated_key_in_a_nested_object_is_rejected_too() -> None:
    raw = encode(FEEDBACK)[:-1] + b', "drivers": {"trust": 4, "trust": 5}}'
    assert rejected(raw).category is RejectCategory.MALFORMED_JSON


@pytest.mark.parametrize(
    "raw",
    [
        b'{"specversion": "1.0", "\\udc00x": 1}',
        encode({**FEEDBACK, "comment": "ok \ud800 ok"}),
        b'{"\\ud83d": 1}',
    ],
)
def test_a_lone_surrogate_escape_is_rejected_with_an_encodable_reason(raw: bytes) -> None:
    result = rejected(raw)
    assert result.category is RejectCategory.MALFORMED_JSON
    assert "lone surrogate" in result.reason
    result.reason.encode("utf-8")  # the dead letter must be writable


def test_a_surrogate_pair_is_ordinary_text() -> None:
    event = decode_event(encode({**FEEDBACK, "comment": "\U0001f44d"}), FEEDBACK_TYPE)
    assert isinstance(event, FeedbackEvent)
    assert event.comment == "\U0001f44d"


@pytest.mark.parametrize("depth", [33, 200, 30_000])
def test_deep_nesting_has_its_own_category(depth: int) -> None:
    raw = b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
    result = rejected(raw, max_bytes=1 << 20)
    assert result.category is RejectCategory.NESTING_TOO_DEEP
    assert str(MAX_JSON_DEPTH) in result.reason


def test_nesting_at_the_limit_is_judged_by_the_contract() -> None:
    depth = MAX_JSON_DEPTH - 1
    raw = encode(FEEDBACK)[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}"
    assert rejected(raw).category is RejectCategory.SCHEMA_VIOLATION


def _cloudevent(**attributes: Any) -> bytes:
    envelope = {"specversion": "1.0", "id": "ce-1", "source": "/x", "type": FEEDBACK_TYPE}
    return encode({**envelope, "data": FEEDBACK, **attributes})


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/cloudevents+json",
    ],
)
def test_json_content_types_are_accepted(content_type: str) -> None:
    assert isinstance(decode_event(_cloudevent(datacontenttype=content_type), FEEDBACK_TYPE),
                      FeedbackEvent)  # fmt: skip


@pytest.mark.parametrize(
    "content_type", ["application/xml", "text/plain", "application/jsonx", "+json", "x"]
)
def test_other_content_types_are_rejected(content_type: str) -> None:
    result = rejected(_cloudevent(datacontenttype=content_type))
    assert result.category is RejectCategory.UNSUPPORTED_CONTENT_TYPE
    assert "datacontenttype" in result.reason


def _at(occurred_at: str, **bounds: float) -> FeedbackEvent | Rejection:
    now = bounds.pop("now", OCCURRED)
    return decode_event(
        encode({**FEEDBACK, "occurred_at": occurred_at}), FEEDBACK_TYPE,
        time_bounds=EventTimeBounds(now=now, **bounds),
    )  # fmt: skip


def test_event_time_within_bounds_is_accepted() -> None:
    assert isinstance(_at("2026-05-01T14:03:00Z"), FeedbackEvent)
    assert isinstance(_at("2026-05-01T15:03:00Z"), FeedbackEvent)  # exactly the default skew
    assert isinstance(_at("2025-03-28T14:03:00Z"), FeedbackEvent)  # 399 days old


@pytest.mark.parametrize(
    ("occurred_at", "why"),
    [
        ("2026-05-01T15:03:01Z", "3601 s ahead"),
        ("9999-12-31T23:59:59Z", "ahead"),
        ("9999-12-31T23:59:59-14:00", "ahead"),
        ("2025-03-26T14:03:00Z", "older"),
        ("0001-01-01T00:00:00+14:00", "older"),
    ],
)
def test_event_time_out_of_bounds_has_its_own_category(occurred_at: str, why: str) -> None:
    result = _at(occurred_at)
    assert isinstance(result, Rejection)
    assert result.category is RejectCategory.EVENT_TIME_OUT_OF_RANGE
    assert why in result.reason
    assert "occurred_at" in result.reason


def test_event_time_bounds_are_configurable() -> None:
    assert isinstance(_at("2026-05-01T14:13:00Z", max_future_skew_s=300), Rejection)
    assert isinstance(_at("2026-04-01T14:03:00Z", max_age_s=86_400), Rejection)
    assert isinstance(_at("2026-04-01T14:03:00Z", max_age_s=40 * 86_400), FeedbackEvent)


def test_the_cloudevent_time_is_bounded_like_occurred_at() -> None:
    data = {k: v for k, v in FEEDBACK.items() if k != "occurred_at"}
    raw = encode({"specversion": "1.0", "id": "ce-1", "source": "/x", "type": FEEDBACK_TYPE,
                  "time": "9999-01-01T00:00:00Z", "data": data})  # fmt: skip
    result = decode_event(raw, FEEDBACK_TYPE, time_bounds=EventTimeBounds(now=OCCURRED))
    assert isinstance(result, Rejection)
    assert result.category is RejectCategory.EVENT_TIME_OUT_OF_RANGE


def test_without_a_clock_only_representable_event_times_are_accepted() -> None:
    for far in ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "1969-12-31T23:59:59Z"):
        result = decode_event(encode({**FEEDBACK, "occurred_at": far}), FEEDBACK_TYPE)
        assert isinstance(result, Rejection), far
        assert result.category is RejectCategory.EVENT_TIME_OUT_OF_RANGE
    assert isinstance(decode_event(encode(FEEDBACK), FEEDBACK_TYPE), FeedbackEvent)
