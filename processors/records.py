"""The JSON documents servicepulse publishes (see schemas/json/*.v1.schema.json)."""

from __future__ import annotations

import base64
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


def dumps(document: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (orjson: about 4x the json module's speed on these documents)."""
    return orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)


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
    return {
        "original": base64.b64encode(raw or b"").decode("ascii"),
        "original_key": base64.b64encode(raw_key).decode("ascii") if raw_key is not None else None,
        "source": source.as_dict(),
        "category": rejection.category.value,
        "reason": rejection.reason,
        "expected_type": expected_type,
        "received_at": rfc3339(received_at),
    }


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
            f"event time {rfc3339(obs.at)} is more than {grace_s:g} s behind the group's "
            f"watermark {rfc3339(watermark)}"
        ),
    }
