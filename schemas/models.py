"""Python models of the v1 event contract.

They mirror ``schemas/json/*.schema.json`` (the published contract); a test runs both over
the same valid and invalid examples so the two cannot drift apart.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

# RFC 3339 `date-time` (§5.6): full date, "T", time and a mandatory offset (or Z). Python's own
# parser is more lenient (it accepts a missing offset, a space separator or a week date), so the
# shape is checked first. The space separator of RFC 3339's note is not the `date-time` grammar
# and JSON Schema's `format: date-time` rejects it, so it is not accepted here either.
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
_RFC3339 = re.compile(RFC3339_PATTERN)

SHORT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"

FEEDBACK_TYPE = "gov.servicepulse.feedback.v1"
INTERACTION_TYPE = "gov.servicepulse.interaction.v1"


def _rfc3339_text(value: str) -> str:
    if not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with offset, e.g. 2026-05-01T14:03:00Z")
    try:
        datetime.fromisoformat(value.upper().replace(" ", "T"))
    except ValueError:
        raise ValueError(f"is not a real calendar date-time: {value!r}") from None
    return value


def _not_null(value: object) -> object:
    # An optional field is omitted when it has no value; JSON null is not one of its types in
    # the published schema. (The model default None applies only when the field is absent.)
    if value is None:
        raise ValueError("must be omitted rather than null")
    return value


NotNull = BeforeValidator(_not_null)

Rfc3339Text = Annotated[str, AfterValidator(_rfc3339_text)]
ShortId = Annotated[str, StringConstraints(pattern=SHORT_ID_PATTERN)]
OpaqueId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


def _rating_number(value: object) -> object:
    # JSON Schema's "integer" admits 4.0 but not "4" or true; mirror that exactly.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer from 1 to 5")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be an integer from 1 to 5")
        return int(value)
    return value


Rating = Annotated[int, BeforeValidator(_rating_number), Field(ge=1, le=5)]


class Channel(StrEnum):
    WEB = "web"
    PHONE = "phone"
    IN_PERSON = "in_person"
    EMAIL = "email"
    CHAT = "chat"
    MAIL = "mail"
    MOBILE_APP = "mobile_app"
    SOCIAL = "social"


class InteractionKind(StrEnum):
    OPENED = "opened"
    FIRST_RESPONSE = "first_response"
    RESPONSE = "response"
    TRANSFERRED = "transferred"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    ABANDONED = "abandoned"
    SELF_SERVICE_COMPLETED = "self_service_completed"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Drivers(_Strict):
    """OMB Circular A-11 §280 customer-experience driver items, each on a 1–5 scale."""

    trust: Annotated[Rating | None, NotNull] = None
    satisfaction: Annotated[Rating | None, NotNull] = None
    effectiveness: Annotated[Rating | None, NotNull] = None
    ease: Annotated[Rating | None, NotNull] = None
    efficiency: Annotated[Rating | None, NotNull] = None
    transparency: Annotated[Rating | None, NotNull] = None
    employee_helpfulness: Annotated[Rating | None, NotNull] = None

    @model_validator(mode="after")
    def _not_empty(self) -> Drivers:
        if not self.answered():
            raise ValueError("drivers needs at least one answered item")
        return self

    def answered(self) -> dict[str, int]:
        return {name: value for name, value in self.model_dump().items() if value is not None}


class _CommonEvent(_Strict):
    event_id: OpaqueId
    occurred_at: Rfc3339Text
    agency: ShortId
    service: ShortId
    channel: Channel
    case_id: Annotated[OpaqueId | None, NotNull] = None
    customer_ref: Annotated[OpaqueId | None, NotNull] = None

    @property
    def occurred_at_epoch(self) -> float:
        """Event time as POSIX seconds (the shape was already checked against RFC 3339)."""
        return datetime.fromisoformat(self.occurred_at.upper().replace(" ", "T")).timestamp()


class FeedbackEvent(_CommonEvent):
    """A survey answer, rating or free-text comment about one service contact."""

    csat: Annotated[Rating | None, NotNull] = None
    drivers: Annotated[Drivers | None, NotNull] = None
    comment: Annotated[Annotated[str, StringConstraints(max_length=10_000)] | None, NotNull] = None

    @model_validator(mode="after")
    def _has_content(self) -> FeedbackEvent:
        if self.csat is None and self.drivers is None and self.comment is None:
            raise ValueError("feedback needs at least one of csat, drivers or comment")
        return self


class InteractionEvent(_CommonEvent):
    """One step in a case's lifecycle (opened, first response, transferred, resolved, …)."""

    case_id: OpaqueId
    kind: InteractionKind
    to_agency: Annotated[ShortId | None, NotNull] = None
    to_service: Annotated[ShortId | None, NotNull] = None


EventType = Literal["gov.servicepulse.feedback.v1", "gov.servicepulse.interaction.v1"]
EVENT_MODELS: dict[str, type[FeedbackEvent] | type[InteractionEvent]] = {
    FEEDBACK_TYPE: FeedbackEvent,
    INTERACTION_TYPE: InteractionEvent,
}


# -- feedback.scored (an output: schemas/json/feedback-scored.v1.schema.json) ------------------


def _json_number(value: object) -> object:
    # JSON Schema's "number" admits 1 and 0.5, not "0.5" or true; pydantic's lax float would.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return float(value)


SentimentLabelValue = Literal["negative", "neutral", "positive"]
SignedUnit = Annotated[float, BeforeValidator(_json_number), Field(ge=-1, le=1)]
Unit = Annotated[float, BeforeValidator(_json_number), Field(ge=0, le=1)]


class ScoredSentiment(_Strict):
    """Sentiment of a comment: TextBlob's polarity and subjectivity, and the label with the
    score and method it comes from (absent only from documents scored before they existed)."""

    polarity: SignedUnit
    subjectivity: Unit
    label: SentimentLabelValue
    label_score: Annotated[SignedUnit | None, NotNull] = None
    label_method: Annotated[
        Annotated[str, StringConstraints(min_length=1, max_length=64)] | None, NotNull
    ] = None


class RecordPosition(_Strict):
    """Topic, partition and offset of a Kafka record."""

    topic: Annotated[str, StringConstraints(min_length=1)]
    partition: Annotated[int, Field(ge=0, strict=True)]
    offset: Annotated[int, Field(ge=0, strict=True)]


class ScoredFeedback(FeedbackEvent):
    """A document on feedback.scored: the feedback event, its comment's sentiment (null when it
    has no comment), when it was scored and where it was read from."""

    sentiment: ScoredSentiment | None
    scored_at: Rfc3339Text
    source: RecordPosition
