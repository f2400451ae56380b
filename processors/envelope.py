"""The one codec for records servicepulse writes to its own internal topics.

Every internal record is a JSON object whose ``type`` says what it carries:

    feedback, interaction  {"type", "event", "sentiment", "source", "input_timestamp"}
    events                 {"type", "events": [<feedback or interaction record>, ...]}: what
                            ingest re-keyed to one partition from one fetched batch, at most
                            MAX_EVENTS_PER_RECORD, in input order (every record costs each hop
                            its fetch, dispatch and acknowledgement; see streams.batching)
    observation            {"type", agency, service, channel, "observations": [{standard,
                            at, value}, ...], event_id, origin, origin_offset}: what one
                            upstream record measured in one group, at most once per
                            standard (one record, not one per standard: fewer messages for
                            every hop). The single form of earlier releases, {"type",
                            agency, service, channel, standard, at, value, event_id, origin,
                            origin_offset}, is still read.
    observations           {"type", "records": [<observation record>, ...]}: what the
                            upstream tasks measured for one partition of the windows stage
                            in a moment, at most MAX_EVENTS_PER_RECORD, in the order measured
    window_final           {"type", "final": <a service.windows message with final=true>}
    watermark              {"type", "from": "<topic>:<partition>", "watermark": s | null,
                            "idle"}: an upstream task's event-time promise, sent to every
                            partition of every internal topic (processors.watermarks)

Each hop decodes a record once (one ``orjson.loads``), and the ``type`` field, not the shape of
the payload, decides how. A record that is not ours, or not of a type the topic carries,
raises ``UnreadableRecord``: the stream edge dead-letters it as an internal error, never as a
publisher's schema violation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import orjson

from servicepulse.processors.cases import Observation
from servicepulse.processors.decoding import EARLIEST_EVENT_TIME, LATEST_EVENT_TIME
from servicepulse.processors.records import SourcePosition, dumps
from servicepulse.processors.sentiment import Sentiment
from servicepulse.processors.timestamps import epoch_of, rfc3339
from servicepulse.processors.watermarks import Watermark
from servicepulse.schemas.models import SHORT_ID_PATTERN, Channel, FeedbackEvent, InteractionEvent


class RecordType(StrEnum):
    FEEDBACK = "feedback"
    INTERACTION = "interaction"
    OBSERVATION = "observation"
    WINDOW_FINAL = "window_final"
    WATERMARK = "watermark"
    EVENTS = "events"
    OBSERVATIONS = "observations"


# An event's place in a record that carries several is the record's offset times this plus
# its index (``origin_offset``): unique and in order per partition, as windows need origins.
# Observation records gathered in one record are numbered alike (``item_offset``).
MAX_EVENTS_PER_RECORD = 1024


class UnreadableRecord(ValueError):
    """An internal record this codec did not write, or of a type its topic does not carry."""


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A protected event (comment redacted, customer_ref pseudonymous), its sentiment (scored
    on the original text at ingest), where it was read from, and that record's timestamp."""

    event: FeedbackEvent | InteractionEvent
    source: SourcePosition
    input_timestamp: float
    sentiment: Sentiment | None = None

    @property
    def type(self) -> RecordType:
        return (
            RecordType.FEEDBACK if isinstance(self.event, FeedbackEvent)
            else RecordType.INTERACTION
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Event records bound for one partition, sent as one record (``encode_events``)."""

    records: tuple[EventRecord, ...]


def encode_events(encoded: Sequence[bytes]) -> bytes:
    """One record carrying event records already encoded one by one (``encode``): joined as
    bytes, not encoded again."""
    return _joined(b"events", b"events", encoded)


def encode_observations(encoded: Sequence[bytes]) -> bytes:
    """One record carrying observation records already encoded one by one (``encode``)."""
    return _joined(b"observations", b"records", encoded)


def _joined(record_type: bytes, field: bytes, encoded: Sequence[bytes]) -> bytes:
    if not 0 < len(encoded) <= MAX_EVENTS_PER_RECORD:
        raise ValueError(
            f"an {record_type.decode()} record carries 1 to {MAX_EVENTS_PER_RECORD} "
            f"{field.decode()}"
        )
    return b'{"type":"' + record_type + b'","' + field + b'":[' + b",".join(encoded) + b"]}"


def item_offset(offset: int, index: int) -> int:
    """The place of the record at ``index`` of a record carrying several, read at ``offset``:
    unique and rising per partition (a record carrying one is its index 0)."""
    return offset * MAX_EVENTS_PER_RECORD + index


def origin_offset(offset: int, index: int | None) -> int:
    """The origin offset of the event at ``index`` of an events record read at ``offset``
    (None: a record carrying one event in its own form, whose offset it keeps: observations
    re-emitted from records written before events records existed repeat their origins)."""
    return offset if index is None else item_offset(offset, index)


@dataclass(frozen=True, slots=True)
class ObservationRecord:
    """Observations of one group, at most one per standard, and the upstream record they came
    from (``origin`` "topic:partition" and ``origin_offset``): re-emitted after a restart it
    carries the same origin. One per standard because the windows stage drops a repeat by
    the record's offset per group and standard."""

    observations: tuple[Observation, ...]
    event_id: str
    origin: str
    origin_offset: int

    def __post_init__(self) -> None:
        if not self.observations:
            raise ValueError("an observation record holds at least one observation")
        first = self.observations[0]
        group = (first.agency, first.service, first.channel)
        standards = set()
        for obs in self.observations:
            if (obs.agency, obs.service, obs.channel) != group:
                raise ValueError(f"observations of two groups in one record: {group}, {obs}")
            if obs.standard in standards:
                raise ValueError(f"standard {obs.standard!r} twice in one record")
            standards.add(obs.standard)


@dataclass(frozen=True, slots=True)
class ObservationBatch:
    """Observation records bound for one partition of the windows stage, sent as one record
    (``encode_observations``)."""

    records: tuple[ObservationRecord, ...]


@dataclass(frozen=True, slots=True)
class WindowFinalRecord:
    """Final windows for the stages after the windows stage; one watermark step's finals for
    the same destination travel together (a record per final was one more read per event)."""

    finals: tuple[dict[str, Any], ...]

    def __post_init__(self) -> None:
        if not self.finals:
            raise ValueError("a window-final record carries at least one final")


@dataclass(frozen=True, slots=True)
class WatermarkRecord:
    """``channel`` (the sending task, "topic:partition") promises no more records before
    ``mark.value``; never counted as data."""

    channel: str
    mark: Watermark


InternalRecord = (
    EventRecord | EventBatch | ObservationRecord | ObservationBatch | WindowFinalRecord
    | WatermarkRecord
)  # fmt: skip

_EVENT_MODELS: dict[str, type[FeedbackEvent] | type[InteractionEvent]] = {
    RecordType.FEEDBACK: FeedbackEvent,
    RecordType.INTERACTION: InteractionEvent,
}


def encode(record: InternalRecord) -> bytes:
    if isinstance(record, EventRecord):
        return dumps(
            {
                "type": record.type.value,
                "event": record.event.model_dump(mode="json", exclude_none=True),
                "sentiment": record.sentiment.as_dict() if record.sentiment else None,
                "source": record.source.as_dict(),
                "input_timestamp": record.input_timestamp,
            }
        )
    if isinstance(record, ObservationRecord):
        first = record.observations[0]
        return dumps(
            {
                "type": RecordType.OBSERVATION.value,
                "agency": first.agency,
                "service": first.service,
                "channel": first.channel,
                "observations": [
                    {"standard": obs.standard, "at": obs.at, "value": obs.value}
                    for obs in record.observations
                ],
                "event_id": record.event_id,
                "origin": record.origin,
                "origin_offset": record.origin_offset,
            }
        )
    if isinstance(record, EventBatch):
        return encode_events([encode(event) for event in record.records])
    if isinstance(record, ObservationBatch):
        return encode_observations([encode(item) for item in record.records])
    if isinstance(record, WatermarkRecord):
        # "type" first: is_watermark tests the raw bytes' prefix.
        return dumps({"type": RecordType.WATERMARK.value, "from": record.channel,
                      "watermark": record.mark.value, "idle": record.mark.idle})  # fmt: skip
    return dumps({"type": RecordType.WINDOW_FINAL.value, "finals": list(record.finals)})


def is_watermark(raw: bytes | None) -> bool:
    """Cheap test on raw bytes, for tools that count records without decoding them."""
    return raw is not None and raw.startswith(b'{"type":"watermark"')


def observation(obs: Observation, event_id: str, origin: SourcePosition) -> ObservationRecord:
    """The record of a single observation."""
    (record,) = observation_records([obs], event_id, origin)
    return record


def observation_records(
    found: Iterable[Observation], event_id: str, origin: SourcePosition
) -> list[ObservationRecord]:
    """What one upstream record measured, as few records as can carry it: one per group, in
    the order the groups were first measured; a standard measured twice in a group starts a
    second record for that group."""
    batches: list[list[Observation]] = []
    open_batch: dict[tuple[str, str, str], list[Observation]] = {}
    for obs in found:
        group = (obs.agency, obs.service, obs.channel)
        batch = open_batch.get(group)
        if batch is None or any(seen.standard == obs.standard for seen in batch):
            batch = open_batch[group] = []
            batches.append(batch)
        batch.append(obs)
    where = f"{origin.topic}:{origin.partition}"
    return [ObservationRecord(tuple(batch), event_id, where, origin.offset) for batch in batches]


def decode(raw: bytes | None, accepted: frozenset[RecordType]) -> InternalRecord:
    """The record in ``raw``; raises UnreadableRecord unless it is one of ``accepted``."""
    try:
        document = orjson.loads(raw or b"")
    except (ValueError, UnicodeDecodeError) as err:
        raise UnreadableRecord(f"not JSON: {err}") from err
    found = document.get("type") if isinstance(document, dict) else None
    if found not in accepted:
        wanted = ", ".join(sorted(accepted))
        raise UnreadableRecord(f"record type {found!r} is not one this topic carries ({wanted})")
    try:
        return _decode_document(RecordType(found), document, accepted)
    except (KeyError, TypeError, ValueError) as err:
        raise UnreadableRecord(f"unreadable {found} record: {err!r}") from err


def _decode_document(
    record_type: RecordType, document: dict[str, Any], accepted: frozenset[RecordType]
) -> InternalRecord:
    if record_type is RecordType.EVENTS:
        return EventBatch(_events(document["events"], accepted))
    if record_type is RecordType.OBSERVATIONS:
        return ObservationBatch(_observation_records(document["records"]))
    if record_type is RecordType.OBSERVATION:
        group = (_short_id(document, "agency"), _short_id(document, "service"),
                 _channel(document))  # fmt: skip
        # The single form of earlier releases is one measurement at the top level.
        measured = document.get("observations", [document])
        if not isinstance(measured, list):
            raise TypeError("field 'observations' must be a list")
        observations = tuple(_measurement(group, item) for item in measured)
        event_id, origin = document["event_id"], document["origin"]
        if not isinstance(event_id, str) or not isinstance(origin, str):
            raise TypeError("fields 'event_id' and 'origin' must be strings")
        return ObservationRecord(observations, event_id, origin, _count(document, "origin_offset"))
    if record_type is RecordType.WATERMARK:
        watermark = None if document["watermark"] is None else _number(document, "watermark")
        # Bounded as event times are: a watermark far past them would close every window.
        if watermark is not None and not EARLIEST_EVENT_TIME <= watermark <= LATEST_EVENT_TIME:
            raise ValueError(f"watermark {watermark!r} out of range")
        idle, channel = document["idle"], document["from"]
        if not isinstance(idle, bool) or not isinstance(channel, str):
            raise TypeError("fields 'idle' and 'from' must be a boolean and a string")
        return WatermarkRecord(channel, Watermark(watermark, idle))
    if record_type is RecordType.WINDOW_FINAL:
        # The single form of earlier releases is one final under "final".
        finals = document["finals"] if "finals" in document else [document["final"]]
        if not isinstance(finals, list) or not finals:
            raise TypeError("field 'finals' must be a non-empty list")
        return WindowFinalRecord(tuple(_window_final(final) for final in finals))
    found = document.get("sentiment")
    event = _EVENT_MODELS[record_type].model_validate(document["event"])
    if not EARLIEST_EVENT_TIME <= event.occurred_at_epoch <= LATEST_EVENT_TIME:
        raise ValueError(f"event time {event.occurred_at!r} out of range")
    return EventRecord(
        event=event,
        source=SourcePosition(**document["source"]),
        input_timestamp=float(document["input_timestamp"]),
        sentiment=None if found is None else Sentiment(**found),
    )


def _events(items: Any, accepted: frozenset[RecordType]) -> tuple[EventRecord, ...]:
    carried = {t for t in _EVENT_MODELS if t in accepted}
    return _carried(items, "events", "events", carried, accepted, EventRecord)


def _observation_records(items: Any) -> tuple[ObservationRecord, ...]:
    carried = {RecordType.OBSERVATION.value}
    return _carried(items, "observations", "records", carried, frozenset(), ObservationRecord)


Carried = TypeVar("Carried", EventRecord, ObservationRecord)


def _carried(
    items: Any, holder: str, field: str, types: set[str], accepted: frozenset[RecordType],
    kind: type[Carried],
) -> tuple[Carried, ...]:  # fmt: skip
    """The records a record of several (an ``holder`` record) lists under ``field``, each of
    one of ``types`` and read as its own record would be."""
    if not isinstance(items, list) or not 0 < len(items) <= MAX_EVENTS_PER_RECORD:
        raise ValueError(f"field {field!r} must list 1 to {MAX_EVENTS_PER_RECORD} {field}")
    records = []
    for item in items:
        found = item.get("type") if isinstance(item, dict) else None
        if found not in types:
            raise ValueError(f"an {holder} record holds a {found!r:.40} record")
        record = _decode_document(RecordType(found), item, accepted)
        assert isinstance(record, kind)  # each of these types decodes as its own kind
        records.append(record)
    return tuple(records)


def _measurement(group: tuple[str, str, str], item: Any) -> Observation:
    if not isinstance(item, dict):
        raise TypeError("an observation must be an object")
    standard, at, value = _short_id(item, "standard"), _number(item, "at"), _number(item, "value")
    # Ingest bounds event times; a record that is not ours must not bring unbounded or
    # unrepresentable times into window arithmetic.
    if not EARLIEST_EVENT_TIME <= at <= LATEST_EVENT_TIME:
        raise ValueError(f"observation time {at!r} out of range")
    return Observation(*group, standard, at=at, value=value)


def decode_event(raw: bytes | None, accepted: frozenset[RecordType]) -> EventRecord:
    record = decode(raw, accepted)
    if not isinstance(record, EventRecord):
        raise UnreadableRecord(f"expected an event record, got {type(record).__name__}")
    return record


def decode_observation(raw: bytes | None) -> ObservationRecord:
    record = decode(raw, frozenset({RecordType.OBSERVATION}))
    assert isinstance(record, ObservationRecord)  # decode returns the accepted type
    return record


def decode_window_final(raw: bytes | None) -> WindowFinalRecord:
    record = decode(raw, frozenset({RecordType.WINDOW_FINAL}))
    assert isinstance(record, WindowFinalRecord)  # decode returns the accepted type
    return record


# A record's group fields become table keys joined with "|" (agency|service|channel|standard)
# and are split back by the window-update timer and peer ranking: a record that is not ours
# must bring short ids (no "|") and a known channel, or one odd key would break every later
# pass over the keys. Numbers are JSON numbers, never strings or booleans.
_SHORT_ID = re.compile(SHORT_ID_PATTERN)
_CHANNELS = frozenset(channel.value for channel in Channel)


def _short_id(document: dict[str, Any], name: str) -> str:
    value = document[name]
    if not isinstance(value, str) or not _SHORT_ID.fullmatch(value):
        raise ValueError(f"field {name!r} is not a short id: {value!r:.40}")
    return value


def _channel(document: dict[str, Any]) -> str:
    value = document["channel"]
    if value not in _CHANNELS:
        raise ValueError(f"field 'channel' is not a channel: {value!r:.40}")
    return str(value)


def _number(document: dict[str, Any], name: str) -> float:
    value = document[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"field {name!r} is not a finite number: {value!r:.40}")
    return float(value)


def _count(document: dict[str, Any], name: str) -> int:
    value = document[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"field {name!r} is not a count: {value!r:.40}")
    return value


def _epoch_or_nan(text: Any) -> float:
    try:
        return epoch_of(text) if isinstance(text, str) else math.nan
    except ValueError:
        return math.nan


def _window_final(final: Any) -> dict[str, Any]:
    """A final as standard-windows writes it, as far as peer ranking and the public feed read
    it: a window's times are canonical RFC 3339 (compared as text) within the event-time
    range, counts are counts, compliance a share or null."""
    if not isinstance(final, dict):
        raise TypeError("field 'final' is not an object")
    for name in ("agency", "service", "standard"):
        _short_id(final, name)
    _channel(final)
    if not isinstance(final["window"], str):  # a name from SERVICEPULSE_WINDOWS
        raise TypeError(f"field 'window' is not a window name: {final['window']!r:.40}")
    for name in ("window_start", "window_end"):
        text = final[name]
        at = _epoch_or_nan(text)
        if not EARLIEST_EVENT_TIME <= at <= LATEST_EVENT_TIME or rfc3339(at) != text:
            raise ValueError(f"field {name!r} is not a window time: {text!r:.40}")
    _count(final, "count")
    if "hits" in final:
        _count(final, "hits")
    if final["compliance"] is not None and not 0 <= _number(final, "compliance") <= 1:
        raise ValueError(f"field 'compliance' is not a share: {final['compliance']!r:.40}")
    return final
