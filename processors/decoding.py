"""Raw Kafka record value → a validated event, or a rejection saying exactly why.

Bad input is a value here, never an exception: the stream edge routes rejections to the
dead-letter topic, so nothing is lost and the worker never crashes on a message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from servicepulse.schemas.models import EVENT_MODELS, FeedbackEvent, InteractionEvent, Rfc3339Text

DEFAULT_MAX_EVENT_BYTES = 64 * 1024

Event = FeedbackEvent | InteractionEvent

# CloudEvents 1.0 structured mode: required context attributes and the optional ones we know.
_CE_REQUIRED = ("specversion", "id", "source", "type")
_CE_OPTIONAL = ("time", "subject", "datacontenttype", "dataschema")
# Attribute names are lower-case ASCII letters and digits, at most 20 characters (CE 1.0 §2).
_CE_ATTRIBUTE_NAME = re.compile(r"[a-z0-9]{1,20}", re.ASCII)
_CE_TIME = TypeAdapter(Rfc3339Text)


class RejectCategory(StrEnum):
    EMPTY = "empty"
    OVERSIZE = "oversize"
    NOT_UTF8 = "not_utf8"
    MALFORMED_JSON = "malformed_json"
    NOT_OBJECT = "not_object"
    SCHEMA_VIOLATION = "schema_violation"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    # Not the publisher's fault: a record the worker failed on, or one on an internal topic
    # that servicepulse did not write.
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class Rejection:
    category: RejectCategory
    reason: str


def decode_event(
    raw: bytes | None, expected_type: str, max_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> Event | Rejection:
    """Decode one record value published to the topic that carries ``expected_type`` events.

    Accepts a bare event object or a CloudEvents 1.0 structured-mode JSON envelope whose
    ``id``/``time`` fill ``event_id``/``occurred_at`` when ``data`` lacks them.
    """
    if not raw:
        return Rejection(RejectCategory.EMPTY, "record value is empty")
    if len(raw) > max_bytes:
        return Rejection(
            RejectCategory.OVERSIZE,
            f"record value is {len(raw)} bytes, over the {max_bytes}-byte limit",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return Rejection(
            RejectCategory.NOT_UTF8, f"value is not UTF-8: invalid byte at offset {err.start}"
        )
    try:
        document = orjson.loads(text)  # also refuses NaN and Infinity, which are not JSON
    except json.JSONDecodeError as err:
        return Rejection(
            RejectCategory.MALFORMED_JSON,
            f"value is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
        )
    if not isinstance(document, dict):
        return Rejection(
            RejectCategory.NOT_OBJECT,
            f"value is a JSON {_json_kind(document)}, expected an object",
        )
    if "specversion" in document:
        unwrapped = _unwrap_cloudevent(document, expected_type)
        if isinstance(unwrapped, Rejection):
            return unwrapped
        document = unwrapped
    return validate_event(document, expected_type)


def validate_event(document: dict[str, Any], event_type: str) -> Event | Rejection:
    model = EVENT_MODELS[event_type]
    try:
        return model.model_validate(document)
    except ValidationError as err:
        return Rejection(RejectCategory.SCHEMA_VIOLATION, describe_validation_error(err))


def describe_validation_error(err: ValidationError) -> str:
    """One sentence per problem, each naming the field by its JSON path."""
    problems = []
    for error in err.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "(event)"
        kind = error["type"]
        if kind == "missing":
            problems.append(f"field '{field}' is required")
        elif kind == "extra_forbidden":
            problems.append(f"field '{field}' is not part of the contract")
        else:
            message = error["msg"].removeprefix("Value error, ")
            shown = json.dumps(error.get("input"), default=str)[:80]
            if field == "(event)":
                problems.append(message)
            else:
                problems.append(f"field '{field}': {message} (got {shown})")
    return "; ".join(problems)


def _unwrap_cloudevent(envelope: dict[str, Any], expected_type: str) -> dict[str, Any] | Rejection:
    problems = [f"field '{name}' is required" for name in _CE_REQUIRED if name not in envelope]
    for name in (*_CE_REQUIRED, *_CE_OPTIONAL):
        if name in envelope and (not isinstance(envelope[name], str) or not envelope[name]):
            problems.append(f"field '{name}' must be a non-empty string")
    if envelope.get("specversion") not in (None, "1.0"):
        problems.append(f"field 'specversion' must be \"1.0\" (got {envelope['specversion']!r})")
    if isinstance(envelope.get("time"), str) and envelope["time"]:
        try:
            _CE_TIME.validate_python(envelope["time"])
        except ValidationError as err:
            message = err.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
            problems.append(f"field 'time': {message} (got {json.dumps(envelope['time'])[:80]})")
    for name, value in envelope.items():
        if not _CE_ATTRIBUTE_NAME.fullmatch(name):
            problems.append(
                f"field '{name}' is not a CloudEvents attribute name (lower-case a-z, 0-9, 1-20)"
            )
        elif name not in (*_CE_REQUIRED, *_CE_OPTIONAL, "data") and not _is_extension_value(value):
            problems.append(f"extension field '{name}' must be a string, integer or boolean")
    if problems:
        return Rejection(
            RejectCategory.SCHEMA_VIOLATION, "CloudEvents envelope: " + "; ".join(problems)
        )
    if envelope["type"] != expected_type:
        known = envelope["type"] in EVENT_MODELS
        why = "belongs on another topic" if known else "is not a servicepulse event type"
        return Rejection(
            RejectCategory.UNKNOWN_EVENT_TYPE,
            f"CloudEvents field 'type' is {envelope['type']!r}, which {why}; "
            f"this topic accepts {expected_type!r}",
        )
    data = envelope.get("data")
    if not isinstance(data, dict):
        return Rejection(
            RejectCategory.SCHEMA_VIOLATION,
            "CloudEvents field 'data' must be a JSON object holding the event",
        )
    document = dict(data)
    document.setdefault("event_id", envelope["id"])
    if "time" in envelope:
        document.setdefault("occurred_at", envelope["time"])
    return document


def _is_extension_value(value: object) -> bool:
    if isinstance(value, bool | str | int):
        return True
    return isinstance(value, float) and value.is_integer()


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
