"""Raw Kafka record value → a validated event, or a rejection saying exactly why.

Bad input is a value here, never an exception: the stream edge routes rejections to the
dead-letter topic, so nothing is lost and the worker never crashes on a message.

Beyond the contract's shape, a value must be unambiguous JSON (no duplicate keys, no lone
surrogate escapes: neither can be re-encoded faithfully), shallow (see ``MAX_JSON_DEPTH``), and
its event time must lie within bounds of the worker's clock (``EventTimeBounds``): every
downstream computation (windows, cases, journeys, retention) is then bounded in cost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError

from servicepulse.schemas.models import EVENT_MODELS, FeedbackEvent, InteractionEvent, Rfc3339Text

DEFAULT_MAX_EVENT_BYTES = 64 * 1024
# The contract nests at most three levels (CloudEvent → data → drivers); anything far deeper is
# not an event, and rejecting it early keeps validation and error messages cheap.
MAX_JSON_DEPTH = 32
DEFAULT_MAX_FUTURE_SKEW_S = 3600.0
DEFAULT_MAX_EVENT_AGE_S = 400 * 86_400.0
# Whatever the bounds, event times stay where every date computation downstream (windows of a
# day, horizons of months, RFC 3339 rendering) is representable: 1970-01-01 .. 9000-01-01 UTC.
EARLIEST_EVENT_TIME = 0.0
LATEST_EVENT_TIME = 221_845_392_000.0

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
    NESTING_TOO_DEEP = "nesting_too_deep"
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
    EVENT_TIME_OUT_OF_RANGE = "event_time_out_of_range"
    # Not the publisher's fault: a record the worker failed on, or one on an internal topic
    # that servicepulse did not write.
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class Rejection:
    category: RejectCategory
    reason: str


@dataclass(frozen=True, slots=True)
class EventTimeBounds:
    """Which event times a worker accepts, relative to its clock ``now`` (POSIX seconds).

    An event more than ``max_future_skew_s`` ahead of ``now`` (a publisher's wrong clock or a
    made-up date) would drag every window's watermark forward and close windows early; one
    older than ``max_age_s`` is history, not a live stream, and would only be late.
    """

    now: float
    max_future_skew_s: float = DEFAULT_MAX_FUTURE_SKEW_S
    max_age_s: float = DEFAULT_MAX_EVENT_AGE_S

    def rejection(self, event_time: float) -> Rejection | None:
        earliest = max(self.now - self.max_age_s, EARLIEST_EVENT_TIME)
        latest = min(self.now + self.max_future_skew_s, LATEST_EVENT_TIME)
        if earliest <= event_time <= latest:
            return None
        if event_time > latest:
            why = f"{event_time - self.now:.0f} s ahead of the worker's clock"
        else:
            why = f"{self.now - event_time:.0f} s older than the worker's clock"
        return Rejection(
            RejectCategory.EVENT_TIME_OUT_OF_RANGE,
            f"field 'occurred_at' is {why}; accepted: from {_iso(earliest)} to {_iso(latest)} "
            f"(max future skew {self.max_future_skew_s:g} s, max age {self.max_age_s:g} s)",
        )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def decode_event(
    raw: bytes | None,
    expected_type: str,
    max_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    time_bounds: EventTimeBounds | None = None,
) -> Event | Rejection:
    """Decode one record value published to the topic that carries ``expected_type`` events.

    Accepts a bare event object or a CloudEvents 1.0 structured-mode JSON envelope whose
    ``id``/``time`` fill ``event_id``/``occurred_at`` when ``data`` lacks them. Without
    ``time_bounds`` (no clock at hand) only the absolute range of event times is enforced.
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
        document = _DECODER.decode(text)
    except json.JSONDecodeError as err:
        return Rejection(
            RejectCategory.MALFORMED_JSON,
            f"value is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
        )
    except _DuplicateKey as err:
        return Rejection(
            RejectCategory.MALFORMED_JSON,
            f"value is ambiguous JSON: key {_shown(err.key)} appears twice in one object",
        )
    except RecursionError:
        return Rejection(
            RejectCategory.NESTING_TOO_DEEP,
            f"value nests arrays/objects deeper than the parser allows (limit {MAX_JSON_DEPTH})",
        )
    problem = _unrepresentable(document, text)
    if problem is not None:
        return problem
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
    event = validate_event(document, expected_type)
    if isinstance(event, Rejection):
        return event
    event_time = event.occurred_at_epoch
    if time_bounds is not None:
        return time_bounds.rejection(event_time) or event
    if EARLIEST_EVENT_TIME <= event_time <= LATEST_EVENT_TIME:
        return event
    return Rejection(
        RejectCategory.EVENT_TIME_OUT_OF_RANGE,
        f"field 'occurred_at' is outside {_iso(EARLIEST_EVENT_TIME)} .. {_iso(LATEST_EVENT_TIME)}",
    )


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on duplicates (first wins, last wins, error): another reader of the same
    # bytes could see a different event, so the value is rejected rather than guessed at.
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return document


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)
_SURROGATE = re.compile("[\ud800-\udfff]")
# A surrogate can only come from a \uD800-\uDFFF escape: valid UTF-8 never encodes one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _unrepresentable(document: object, text: str) -> Rejection | None:
    """Too deep, or holding a string that is not Unicode text (a lone surrogate escape, which
    no UTF-8 output can carry). Iterative: the depth is what is being checked. The walk is
    skipped when the text alone rules both out, as it does for ordinary events."""
    shallow = text.count("[") + text.count("{") <= MAX_JSON_DEPTH
    if shallow and not _SURROGATE_ESCAPE.search(text):
        return None
    for value, depth in _walk(document):
        if depth > MAX_JSON_DEPTH:
            return Rejection(
                RejectCategory.NESTING_TOO_DEEP,
                f"value nests arrays/objects more than {MAX_JSON_DEPTH} levels deep",
            )
        if isinstance(value, str) and not value.isascii() and _SURROGATE.search(value):
            return Rejection(
                RejectCategory.MALFORMED_JSON,
                f"value holds a lone surrogate escape in {_shown(value)}: not Unicode text",
            )
    return None


def _walk(document: object) -> Iterator[tuple[object, int]]:
    """Every value, object key included, with its nesting depth (the top level is 1)."""
    pending: list[tuple[object, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        yield value, depth
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


def _shown(text: str) -> str:
    """A short, ASCII-only rendering of input text for a reason (safe to encode anywhere)."""
    return ascii(text[:60])


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
                f"field {_shown(name)} is not a CloudEvents attribute name "
                "(lower-case a-z, 0-9, 1-20)"
            )
        elif name not in (*_CE_REQUIRED, *_CE_OPTIONAL, "data") and not _is_extension_value(value):
            problems.append(f"extension field '{name}' must be a string, integer or boolean")
    if problems:
        return Rejection(
            RejectCategory.SCHEMA_VIOLATION, "CloudEvents envelope: " + "; ".join(problems)
        )
    content_type = envelope.get("datacontenttype")
    if content_type is not None and not _is_json_media_type(content_type):
        return Rejection(
            RejectCategory.UNSUPPORTED_CONTENT_TYPE,
            f"CloudEvents field 'datacontenttype' is {_shown(content_type)}; "
            "this topic accepts JSON data (application/json or a +json type) only",
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


def _is_json_media_type(content_type: str) -> bool:
    # CloudEvents JSON format §3.1: data is JSON when the type is application/json or any
    # media type with a +json suffix; parameters (charset) do not change that.
    essence = content_type.split(";", 1)[0].strip().lower()
    return essence == "application/json" or (essence.endswith("+json") and essence.count("/") == 1)


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
