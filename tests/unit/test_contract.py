"""The published JSON Schema contract and the Python models accept and reject the same events.

Every file in ``schemas/examples/valid`` must pass both; every file in
``schemas/examples/invalid`` (named ``<type>--<field>--<what>.json``) must fail both, and the
decoder's reason must name ``<field>``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from jsonschema import Draft202012Validator, ValidationError

from servicepulse.processors import records
from servicepulse.processors.decoding import RejectCategory, Rejection, decode_event
from servicepulse.processors.sentiment import SentimentLabel, score_comment
from servicepulse.schemas import contract
from servicepulse.schemas.models import (
    FEEDBACK_TYPE,
    INTERACTION_TYPE,
    RFC3339_PATTERN,
    SHORT_ID_PATTERN,
    Channel,
    Drivers,
    FeedbackEvent,
    InteractionEvent,
    InteractionKind,
    RecordPosition,
    ScoredFeedback,
    ScoredSentiment,
)

EXAMPLES = Path(contract.__file__).resolve().parent / "examples"
VALID = sorted((EXAMPLES / "valid").glob("*.json"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.json"))
# Documents servicepulse publishes on feedback.scored (an output, so not decoded as an input).
SCORED_VALID = sorted((EXAMPLES / "scored-valid").glob("*.json"))
SCORED_INVALID = sorted((EXAMPLES / "scored-invalid").glob("*.json"))

# File-name prefix -> (event type the topic carries, schema the document is checked against).
PREFIXES = {
    "cloudevent-feedback": (FEEDBACK_TYPE, "cloudevent.v1"),
    "cloudevent-interaction": (INTERACTION_TYPE, "cloudevent.v1"),
    "feedback": (FEEDBACK_TYPE, "feedback.v1"),
    "interaction": (INTERACTION_TYPE, "interaction.v1"),
}


def _kind_of(path: Path) -> tuple[str, str]:
    stem = path.stem.split("--")[0]
    for prefix, kind in PREFIXES.items():  # longest prefixes first
        if stem == prefix or stem.startswith(prefix + "-"):
            return kind
    raise AssertionError(f"{path.name}: name must start with one of {sorted(PREFIXES)}")


def _all_errors(errors: Iterator[ValidationError]) -> Iterator[ValidationError]:
    for error in errors:
        yield error
        yield from _all_errors(iter(error.context or ()))


def test_there_are_enough_examples() -> None:
    assert len(VALID) >= 8
    assert len(INVALID) >= 15
    for path in INVALID:
        assert len(path.stem.split("--")) == 3, f"{path.name}: want <type>--<field>--<what>.json"


@pytest.mark.parametrize("name", contract.schema_names())
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = contract.load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{contract.BASE_URI}{name}.schema.json"
    assert schema["title"] and schema["description"]


@pytest.mark.parametrize("name", contract.schema_names())
def test_every_property_is_documented(name: str) -> None:
    def walk(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            for prop, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    yield f"{where}/properties/{prop}"
            for key, value in node.items():
                yield from walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, f"{where}/{index}")

    undocumented = [
        path
        for path in walk(contract.load_schema(name), "#")
        if "/if/" not in path and "/then/" not in path and "/anyOf/" not in path
    ]
    assert not undocumented


def test_schema_vocabularies_match_the_models() -> None:
    feedback = contract.load_schema("feedback.v1")["$defs"]
    interaction = contract.load_schema("interaction.v1")["$defs"]
    assert feedback["timestamp"]["pattern"] == RFC3339_PATTERN
    assert feedback["shortId"]["pattern"] == SHORT_ID_PATTERN
    assert feedback["channel"]["enum"] == [c.value for c in Channel]
    assert interaction["kind"]["enum"] == [k.value for k in InteractionKind]
    assert list(feedback["drivers"]["properties"]) == list(Drivers.model_fields)
    assert set(feedback["payload"]["properties"]) == set(FeedbackEvent.model_fields)
    assert set(interaction["payload"]["properties"]) == set(InteractionEvent.model_fields)
    deadletter = contract.load_schema("deadletter.v1")["properties"]
    assert deadletter["category"]["enum"] == [c.value for c in RejectCategory]
    scored = contract.load_schema("feedback-scored.v1")["properties"]
    label = scored["sentiment"]["oneOf"][1]["properties"]["label"]
    assert label["enum"] == list(get_args(SentimentLabel))
    assert set(scored) == set(ScoredFeedback.model_fields)
    assert set(scored["sentiment"]["oneOf"][1]["properties"]) == set(ScoredSentiment.model_fields)
    position = contract.load_schema("feedback-scored.v1")["$defs"]["recordPosition"]
    assert set(position["properties"]) == set(RecordPosition.model_fields)
    envelope = contract.load_schema("cloudevent.v1")["properties"]
    assert envelope["type"]["enum"] == [FEEDBACK_TYPE, INTERACTION_TYPE]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_example_passes_schema_and_models(path: Path) -> None:
    expected_type, schema_name = _kind_of(path)
    raw = path.read_bytes()
    document = json.loads(raw)

    errors = [e.message for e in contract.validator(schema_name).iter_errors(document)]
    assert not errors, f"JSON Schema rejects {path.name}: {errors}"

    if schema_name == "cloudevent.v1":
        assert document["type"] == expected_type
    event = decode_event(raw, expected_type)
    assert not isinstance(event, Rejection), f"models reject {path.name}: {event.reason}"
    model = FeedbackEvent if expected_type == FEEDBACK_TYPE else InteractionEvent
    assert isinstance(event, model)
    if schema_name == "cloudevent.v1":
        assert event.event_id == document["data"].get("event_id", document["id"])
        assert event.occurred_at == document["data"].get("occurred_at", document.get("time"))


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example_fails_schema_and_models(path: Path) -> None:
    expected_type, schema_name = _kind_of(path)
    field = path.stem.split("--")[1]
    raw = path.read_bytes()
    document = json.loads(raw)

    errors = list(_all_errors(contract.validator(schema_name).iter_errors(document)))
    assert errors, f"JSON Schema accepts {path.name}"
    leaf = field.rsplit(".", 1)[-1]
    mentioned = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(leaf)}(?![A-Za-z0-9_])")
    assert any(mentioned.search(e.json_path + " " + e.message) for e in errors), (
        f"no JSON Schema error for {path.name} concerns {field!r}: "
        f"{[(e.json_path, e.message) for e in errors]}"
    )

    rejection = decode_event(raw, expected_type)
    assert isinstance(rejection, Rejection), f"models accept {path.name}: {rejection!r}"
    assert rejection.category in (
        RejectCategory.SCHEMA_VIOLATION,
        RejectCategory.UNKNOWN_EVENT_TYPE,
    )
    assert f"'{field}'" in rejection.reason or (
        field == "csat" and "csat, drivers or comment" in rejection.reason
    ), f"{path.name}: reason does not name {field!r}: {rejection.reason}"


def test_patterns_use_ecma_262_anchoring() -> None:
    shortid = contract.validator("feedback.v1").evolve(schema={"pattern": SHORT_ID_PATTERN})
    assert shortid.is_valid("dmv-ca")
    assert not shortid.is_valid("dmv-ca\n")
    timestamp = contract.validator("feedback.v1").evolve(
        schema={"$ref": f"{contract.BASE_URI}feedback.v1.schema.json#/$defs/timestamp"}
    )
    assert timestamp.is_valid("2026-05-01T14:03:00Z")
    assert not timestamp.is_valid("2026-05-01T14:03:00Z\n")
    assert not timestamp.is_valid("٢٠٢٦-05-01T14:03:00Z")


def _scored_from(raw: bytes, expected_type: str) -> dict[str, Any]:
    event = decode_event(raw, expected_type)
    assert isinstance(event, FeedbackEvent)
    return {
        **event.model_dump(mode="json", exclude_none=True),
        "sentiment": {"polarity": -0.35, "subjectivity": 0.6, "label": "negative"},
        "scored_at": "2026-05-05T12:00:01.204Z",
        "source": {"topic": "feedback.events", "partition": 3, "offset": 18_442},
    }


def test_scored_output_matches_its_schema() -> None:
    scored = contract.validator("feedback-scored.v1")
    from_envelope = _scored_from(
        (EXAMPLES / "valid" / "cloudevent-feedback-id-time-fill.json").read_bytes(), FEEDBACK_TYPE
    )
    assert from_envelope["event_id"] == "fb-2026-05-05-001200"
    assert from_envelope["occurred_at"] == "2026-05-05T12:00:00Z"
    assert [e.message for e in scored.iter_errors(from_envelope)] == []

    everything = _scored_from(
        (EXAMPLES / "valid" / "feedback-all-fields.json").read_bytes(), FEEDBACK_TYPE
    )
    assert [e.message for e in scored.iter_errors(everything)] == []

    no_comment = {
        "event_id": "fb-1",
        "occurred_at": "2026-05-01T14:03:00Z",
        "agency": "ssa",
        "service": "retirement-benefits",
        "channel": "web",
        "csat": 4,
        "sentiment": None,
        "scored_at": "2026-05-01T14:03:00.5+00:00",
        "source": {"topic": "feedback.events", "partition": 0, "offset": 0},
    }
    assert scored.is_valid(no_comment)

    for broken in (
        {**no_comment, "sentiment": {"polarity": 1.5, "subjectivity": 0.2, "label": "positive"}},
        {**no_comment, "sentiment": {"polarity": 0.0, "subjectivity": 0.0, "label": "mixed"}},
        {k: v for k, v in no_comment.items() if k != "sentiment"},
        {**no_comment, "scored_at": "yesterday"},
        {**no_comment, "source": {"topic": "feedback.events", "partition": -1, "offset": 0}},
        {**no_comment, "case_id": None},
        {**no_comment, "extra": 1},
        {k: v for k, v in no_comment.items() if k != "csat"},
    ):
        assert not scored.is_valid(broken), broken


def test_there_are_scored_examples() -> None:
    assert len(SCORED_VALID) >= 4
    assert len(SCORED_INVALID) >= 6
    for path in SCORED_INVALID:
        assert len(path.stem.split("--")) == 3, f"{path.name}: want <type>--<field>--<what>.json"


@pytest.mark.parametrize("path", SCORED_VALID, ids=lambda p: p.name)
def test_scored_example_passes_schema_and_model(path: Path) -> None:
    document = json.loads(path.read_bytes())
    scored = contract.validator("feedback-scored.v1")
    assert [e.message for e in scored.iter_errors(document)] == []
    model = ScoredFeedback.model_validate_json(path.read_bytes())
    assert model.model_dump(mode="json", exclude_unset=True) == document


@pytest.mark.parametrize("path", SCORED_INVALID, ids=lambda p: p.name)
def test_scored_invalid_example_fails_schema_and_model(path: Path) -> None:
    field = path.stem.split("--")[1]
    assert not contract.validator("feedback-scored.v1").is_valid(json.loads(path.read_bytes()))
    with pytest.raises(ValueError) as raised:
        ScoredFeedback.model_validate_json(path.read_bytes())
    assert field.split(".")[-1] in str(raised.value), str(raised.value)


def test_scored_examples_carry_what_the_processor_computes() -> None:
    """The label fields of the valid examples are what score_comment gives their comment."""
    for path in SCORED_VALID:
        document = json.loads(path.read_bytes())
        sentiment = document["sentiment"]
        if sentiment is None or "label_method" not in sentiment:
            continue
        expected = score_comment(document["comment"])
        assert expected is not None
        assert sentiment == expected.as_dict(), path.name


def _dead_letter(raw: bytes, key: bytes | None, expected_type: str) -> dict[str, Any]:
    rejection = decode_event(raw, expected_type)
    assert isinstance(rejection, Rejection)
    return {
        "original": base64.b64encode(raw).decode("ascii"),
        "original_size": len(raw),
        "original_sha256": hashlib.sha256(raw).hexdigest(),
        "original_truncated": False,
        "original_key": None if key is None else base64.b64encode(key).decode("ascii"),
        "original_key_truncated": False,
        "source": {"topic": "feedback.events", "partition": 1, "offset": 77},
        "category": rejection.category.value,
        "reason": rejection.reason,
        "received_at": "2026-05-05T12:00:02Z",
        "expected_type": expected_type,
    }


def test_dead_letter_output_matches_its_schema() -> None:
    deadletter = contract.validator("deadletter.v1")
    invalid = (EXAMPLES / "invalid" / "feedback--csat--six.json").read_bytes()
    for raw, key in (
        (invalid, b"ssa:c-8f14e45f"),
        (b"\xff\xfe not utf-8", None),
        (b"[1, 2, 3]", b"k"),
        (b"{", None),
    ):
        record = _dead_letter(raw, key, FEEDBACK_TYPE)
        assert [e.message for e in deadletter.iter_errors(record)] == []
        assert base64.b64decode(record["original"]) == raw

    record = _dead_letter(invalid, None, FEEDBACK_TYPE)
    assert record["category"] == "schema_violation"
    for broken in (
        {**record, "original": "not base64!"},
        {**record, "category": "bad"},
        {k: v for k, v in record.items() if k != "original_key"},
        {**record, "received_at": "2026-05-05T12:00:02"},
        {**record, "source": {"topic": "feedback.events", "partition": 1}},
        {**record, "original_sha256": "abc"},
        {k: v for k, v in record.items() if k != "original_size"},
    ):
        assert not deadletter.is_valid(broken), broken


def test_what_the_processor_publishes_matches_the_output_schemas() -> None:
    """processors.records builds the documents the stream writes to feedback.scored and
    events.deadletter; they must satisfy the published output schemas."""
    position = records.SourcePosition("feedback.events", 2, 9_001)
    scored = contract.validator("feedback-scored.v1")
    for path in VALID:
        if _kind_of(path)[0] != FEEDBACK_TYPE:
            continue
        event = decode_event(path.read_bytes(), FEEDBACK_TYPE)
        assert isinstance(event, FeedbackEvent)
        document = records.scored_feedback(
            event, score_comment(event.comment), position, 1_777_900_000.25
        )
        document = json.loads(records.dumps(document))
        assert [e.message for e in scored.iter_errors(document)] == [], path.name

    deadletter = contract.validator("deadletter.v1")
    inputs: list[Path | None] = [*INVALID, None]
    for source in inputs:
        raw = source.read_bytes() if source is not None else None
        key = None if source is None else source.name.encode()
        rejection = decode_event(raw, FEEDBACK_TYPE)
        assert isinstance(rejection, Rejection)
        document = records.dead_letter(
            raw, key, rejection, position, FEEDBACK_TYPE, 1_777_900_000.0
        )
        document = json.loads(records.dumps(document))
        assert [e.message for e in deadletter.iter_errors(document)] == [], document
