"""The JSON documents servicepulse publishes (see schemas/json/*.v1.schema.json)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import orjson

from servicepulse.processors.cases import Observation
from servicepulse.processors.decoding import Rejection
from servicepulse.processors.sentiment import Sentiment

# epoch_of is re-exported for the flows that parse the times these documents carry.
from servicepulse.processors.timestamps import epoch_of as epoch_of
from servicepulse.processors.timestamps import rfc3339
from servicepulse.schemas.models import FeedbackEvent


@dataclass(frozen=True, slots=True)
class SourcePosition:
    topic: str
    partition: int
    offset: int

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


# A dead letter keeps the rejected value whole up to this size and its first bytes beyond it,
# with the full size and SHA-256: base64 of 1 MiB plus key and metadata stays well under the
# producer's max request size and the dead-letter topic's max.message.bytes (4 MiB each,
# streams.app / streams.topics; a unit test checks the worst case fits).
DEADLETTER_MAX_ORIGINAL_BYTES = 1024 * 1024
DEADLETTER_MAX_KEY_BYTES = 16 * 1024
DEADLETTER_MAX_REASON_CHARS = 4000


def dumps(document: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (orjson: about 4x the json module's speed on these documents)."""
    try:
        return orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        # A lone surrogate cannot be UTF-8: escaped (\udc00) the document is still valid JSON.
        return json.dumps(document, separators=(",", ":")).encode()


def scored_feedback(
    event: FeedbackEvent, sentiment: Sentiment | None, source: SourcePosition, scored_at: float
) -> dict[str, Any]:
    document = event.model_dump(mode="json", exclude_none=True)
    document["sentiment"] = sentiment.as_dict() if sentiment is not None else None
    document["scored_at"] = rfc3339(scored_at)
    document["source"] = source.as_dict()
    return document


def dead_letter(
    raw: bytes | None,
    raw_key: bytes | None,
    rejection: Rejection,
    source: SourcePosition,
    expected_type: str,
    received_at: float,
) -> dict[str, Any]:
    """The dead-letter document of a rejected record; too large a value or key is kept
    truncated (``original_truncated``), with the full value's size and SHA-256."""
    value = raw or b""
    reason = rejection.reason
    if len(reason) > DEADLETTER_MAX_REASON_CHARS:
        reason = reason[: DEADLETTER_MAX_REASON_CHARS - 30] + f" … ({len(reason)} characters)"
    return {
        "original": base64.b64encode(value[:DEADLETTER_MAX_ORIGINAL_BYTES]).decode("ascii"),
        "original_size": len(value),
        "original_sha256": hashlib.sha256(value).hexdigest(),
        "original_truncated": len(value) > DEADLETTER_MAX_ORIGINAL_BYTES,
        "original_key": (
            None if raw_key is None else base64.b64encode(dead_letter_key(raw_key)).decode("ascii")
        ),
        "original_key_truncated": raw_key is not None and len(raw_key) > DEADLETTER_MAX_KEY_BYTES,
        "source": source.as_dict(),
        "category": rejection.category.value,
        "reason": reason,
        "expected_type": expected_type,
        "received_at": rfc3339(received_at),
    }


def dead_letter_key(raw_key: bytes) -> bytes:
    """The record key a dead letter is sent with (and keeps): the original, cut to a size any
    producer accepts."""
    return raw_key[:DEADLETTER_MAX_KEY_BYTES]


def late_record(
    obs: Observation, source_event_id: str, watermark: float, grace_s: float
) -> dict[str, Any]:
    """An observation that arrived after its windows closed, kept on the late-events topic."""
    return {
        **obs.as_dict(),
        "event_id": source_event_id,
        "observed_at": rfc3339(obs.at),
        "watermark": rfc3339(watermark),
        "lateness_seconds": round(watermark - obs.at, 3),
        "grace_seconds": grace_s,
        "reason": (
            f"event time {rfc3339(obs.at)} is in a window already final at the watermark "
            f"{rfc3339(watermark)} (the slowest input's event time less the {grace_s:g} s grace)"
        ),
    }
