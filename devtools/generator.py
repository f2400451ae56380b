"""Deterministic, realistic servicepulse traffic for the demo, the benchmark and the tests.

Everything comes from one seeded ``random.Random``, so the same seed always yields the same
bytes. Nothing here talks to Kafka: records are (event type, key, value) triples that a
publisher sends to the topic carrying that event type.

What the stream looks like:

* Several agencies and their services, each with its own mix of the eight channels.
* Case lifecycles (opened → first_response → response / transferred / escalated → resolved or
  abandoned; some self_service_completed, some reopened), with the steps of many cases
  interleaved. Fast channels (phone, chat, in person) move in minutes, written channels in
  hours, mail in days.
* Post-contact surveys whose CSAT, OMB A-11 §280 driver items and free-text comment follow the
  case experience (long waits, transfers, escalations, reopening, abandonment), plus stand-alone
  web/app survey answers.
* Event time starts at ``start`` and advances a few seconds per record, with small out-of-order
  jitter. About ``cloudevents_share`` of valid events are CloudEvents 1.0 structured-mode
  envelopes; ``redelivery_share`` of records repeat an earlier valid record byte for byte and
  ``malformed_share`` are broken in one of the ways ``processors.decoding`` rejects, each
  labelled with the ``RejectCategory`` the decoder returns for it.
"""

from __future__ import annotations

import base64
import gzip
import heapq
import json
import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from servicepulse.devtools.catalogue import (
    AGENCIES,
    CHANNEL_PHRASES,
    CHANNELS,
    COMMENT_TOPIC_BASE,
    DAY_MS,
    DIGITAL_CHANNELS,
    FIRST_RESPONSE_MEDIAN_MS,
    HOUR_MS,
    HUMAN_CHANNELS,
    LONG_WAITS,
    MAX_DELAY_MS,
    MINUTE_MS,
    NUMBER_WORDS,
    SERVICE_BY_KEY,
    SERVICE_WEIGHTS,
    SERVICES,
    SHORT_WAITS,
    STAFF,
    STEP_MEDIAN_MS,
    TEMPLATE_SLOTS,
    TEMPLATES,
    TEMPLATES_BY,
    Service,
)
from servicepulse.processors.decoding import DEFAULT_MAX_EVENT_BYTES, RejectCategory
from servicepulse.processors.timestamps import rfc3339
from servicepulse.schemas.models import FEEDBACK_TYPE, INTERACTION_TYPE, Channel, InteractionKind

__all__ = [
    "DEFAULT_START",
    "SIMULATED_TIME_ENV",
    "FeedbackGenerator",
    "GeneratedRecord",
]

DEFAULT_START = datetime(2026, 11, 2, 8, 0, 0, tzinfo=UTC)
# The generator's event time starts at DEFAULT_START and runs far faster than the wall clock
# (1 M records span ~6 weeks), so a worker fed by it accepts any event time within a century.
SIMULATED_TIME_ENV = {
    "SERVICEPULSE_MAX_FUTURE_SKEW_SECONDS": str(100 * 365 * 86_400),
    "SERVICEPULSE_MAX_EVENT_AGE_DAYS": str(100 * 365),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

KIND_VALID = "valid"
KIND_REDELIVERY = "redelivery"
KIND_MALFORMED = "malformed"


@dataclass(frozen=True)
class GeneratedRecord:
    event_type: str  # "gov.servicepulse.feedback.v1" or "gov.servicepulse.interaction.v1"
    key: bytes | None  # event_id for feedback, case_id for interactions (utf-8)
    value: bytes  # what goes on the wire
    kind: str  # "valid" | "redelivery" | "malformed"
    expected_category: str | None  # malformed: the RejectCategory value decode_event returns


# --------------------------------------------------------------------------------------------
# Internal state
# --------------------------------------------------------------------------------------------


@dataclass
class _Experience:
    """What happened to the customer; drives CSAT, the A-11 items and the comment."""

    wait_ratio: float = 1.0  # first wait ÷ the channel's usual wait
    transfers: int = 0
    escalations: int = 0
    responses: int = 0
    reopened: int = 0
    abandoned: bool = False
    self_service: bool = False
    resolved: bool = False

    def pain(self, difficulty: float) -> float:
        pain = difficulty * 0.6
        pain += max(0.0, math.log2(max(self.wait_ratio, 1e-6))) * 0.7
        pain += self.transfers * 0.8 + self.escalations * 0.5 + self.reopened * 1.1
        pain += max(0, self.responses - 2) * 0.3
        if self.abandoned:
            pain += 2.2
        if self.self_service:
            pain -= 0.5
        if self.resolved:
            pain -= 0.3
        return pain


@dataclass
class _Case:
    case_id: str
    agency: str
    service: str
    channel: Channel
    customer_ref: str | None
    next_kind: InteractionKind
    experience: _Experience = field(default_factory=_Experience)
    steps: int = 0


@dataclass
class _Survey:
    agency: str
    service: str
    channel: Channel
    case_id: str | None
    customer_ref: str | None
    experience: _Experience


@dataclass
class _Valid:
    event_type: str
    key: bytes
    value: bytes


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


class FeedbackGenerator:
    """Seeded generator of servicepulse records; each call continues the same stream."""

    def __init__(
        self,
        seed: int = 7,
        start: datetime | None = None,
        malformed_share: float = 0.02,
        redelivery_share: float = 0.03,
        cloudevents_share: float = 0.2,
        case_share: float = 0.5,
        arrivals_per_hour_scale: float = 1.0,
    ) -> None:
        if not arrivals_per_hour_scale > 0:
            raise ValueError(
                f"arrivals_per_hour_scale must be positive (got {arrivals_per_hour_scale})"
            )
        for name, share in (
            ("malformed_share", malformed_share),
            ("redelivery_share", redelivery_share),
            ("cloudevents_share", cloudevents_share),
            ("case_share", case_share),
        ):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1 (got {share})")
        if malformed_share + redelivery_share > 1.0:
            raise ValueError("malformed_share + redelivery_share must not exceed 1")
        self.seed = seed
        self.malformed_share = malformed_share
        self.redelivery_share = redelivery_share
        self.cloudevents_share = cloudevents_share
        self.case_share = case_share
        self.arrivals_per_hour_scale = arrivals_per_hour_scale
        self._rng = random.Random(seed)
        begin = start if start is not None else DEFAULT_START
        if begin.tzinfo is None:
            begin = begin.replace(tzinfo=UTC)
        self._now_ms = (begin - _EPOCH) // timedelta(milliseconds=1)
        self._seq = 0  # heap tie-breaker, keeps ordering deterministic
        self._case_counter = 0
        self._cases: list[tuple[int, int, _Case]] = []  # heap by due time
        self._surveys: list[tuple[int, int, _Survey]] = []  # heap by due time
        self._customers: list[str] = []
        self._frequent: list[str] = [self._new_customer_ref() for _ in range(25)]
        self._history: list[_Valid] = []  # recent valid records, for redeliveries
        self._malformed_deck: list[str] = []

    # -- public API ----------------------------------------------------------------------

    def records(self, count: int) -> Iterator[GeneratedRecord]:
        """``count`` records: feedback and case interactions, some redelivered or malformed."""
        for _ in range(count):
            yield self._next(feedback_only=False)

    def feedback(self, count: int) -> Iterator[GeneratedRecord]:
        """``count`` feedback records only (valid, redelivered or malformed)."""
        for _ in range(count):
            yield self._next(feedback_only=True)

    # -- one record ----------------------------------------------------------------------

    def _next(self, feedback_only: bool) -> GeneratedRecord:
        rng = self._rng
        roll = rng.random()
        if roll < self.malformed_share:
            event_type = (
                FEEDBACK_TYPE
                if feedback_only or rng.random() >= self.case_share
                else INTERACTION_TYPE
            )
            return self._malformed(event_type)
        if roll < self.malformed_share + self.redelivery_share:
            pool = (
                [item for item in self._history[-200:] if item.event_type == FEEDBACK_TYPE]
                if feedback_only
                else self._history
            )
            if pool:
                earlier = pool[int(len(pool) * rng.random() ** 0.5) if len(pool) > 1 else 0]
                return GeneratedRecord(
                    earlier.event_type, earlier.key, earlier.value, KIND_REDELIVERY, None
                )
        self._now_ms += self._gap_ms()
        if not feedback_only and rng.random() < self.case_share:
            event_type, key, document = INTERACTION_TYPE, *self._interaction()
        else:
            event_type, key, document = FEEDBACK_TYPE, *self._feedback(feedback_only)
        if rng.random() < self.cloudevents_share:
            document = self._cloudevent(event_type, document)
        value = _dumps(document)
        self._history.append(_Valid(event_type, key, value))
        if len(self._history) > 2000:
            del self._history[:1000]
        return GeneratedRecord(event_type, key, value, KIND_VALID, None)

    def _gap_ms(self) -> int:
        # A few seconds apart on average, busier in office hours (event-time hour, UTC-5);
        # a larger arrivals scale models a busier set of agencies (case durations unchanged).
        hour = (self._now_ms // HOUR_MS - 5) % 24
        mean = (2.5 if 8 <= hour < 18 else 6.0) / self.arrivals_per_hour_scale
        gap = int(self._rng.expovariate(1.0 / mean) * 1000)
        return max(round(50 / self.arrivals_per_hour_scale), min(20_000, gap))

    def _event_time(self, due_ms: int) -> int:
        """Late events keep their time (within a bound); a few arrive slightly out of order."""
        at = max(due_ms, self._now_ms - 30_000) if due_ms <= self._now_ms else self._now_ms
        if self._rng.random() < 0.08:
            at -= self._rng.randint(500, 20_000)
        return at

    # -- interactions --------------------------------------------------------------------

    def _interaction(self) -> tuple[bytes, dict[str, Any]]:
        if self._cases and self._cases[0][0] <= self._now_ms:
            due, _, case = heapq.heappop(self._cases)
            return self._advance(case, self._event_time(due))
        return self._open_case()

    def _open_case(self) -> tuple[bytes, dict[str, Any]]:
        rng = self._rng
        service = self._pick_service()
        channel = self._pick_channel(service)
        self._case_counter += 1
        case_id = f"{service.agency}-{self._case_counter:07d}-{rng.getrandbits(24):06x}"
        case = _Case(
            case_id,
            service.agency,
            service.name,
            channel,
            self._customer_ref(anonymous_share=0.03),
            InteractionKind.OPENED,
        )
        at = self._event_time(self._now_ms)
        document = self._interaction_doc(case, InteractionKind.OPENED, at)
        # What happens next.
        if channel in DIGITAL_CHANNELS and service.self_service and rng.random() < 0.45:
            case.experience.self_service = True
            self._schedule(
                case,
                InteractionKind.SELF_SERVICE_COMPLETED,
                at + rng.randint(2 * MINUTE_MS, 25 * MINUTE_MS),
            )
        else:
            median = FIRST_RESPONSE_MEDIAN_MS[channel]
            delay = self._lognormal(median, 0.9)
            case.experience.wait_ratio = delay / median
            gives_up = (
                channel in (Channel.PHONE, Channel.CHAT)
                and case.experience.wait_ratio > 2.2
                and rng.random() < 0.6
            ) or rng.random() < 0.03
            if gives_up:
                self._schedule(case, InteractionKind.ABANDONED, at + int(delay * 0.7))
            else:
                self._schedule(case, InteractionKind.FIRST_RESPONSE, at + delay)
        return case_id.encode(), document

    def _advance(self, case: _Case, at: int) -> tuple[bytes, dict[str, Any]]:
        rng = self._rng
        kind = case.next_kind
        case.steps += 1
        experience = case.experience
        to: tuple[str, str] | None = None
        if kind is InteractionKind.TRANSFERRED:
            to = self._transfer_target(case)
            experience.transfers += 1
        elif kind is InteractionKind.ESCALATED:
            experience.escalations += 1
        elif kind is InteractionKind.RESPONSE:
            experience.responses += 1
        elif kind is InteractionKind.REOPENED:
            experience.reopened += 1
            experience.resolved = False
        elif kind is InteractionKind.RESOLVED:
            experience.resolved = True
        elif kind is InteractionKind.ABANDONED:
            experience.abandoned = True
        document = self._interaction_doc(case, kind, at, to)
        if to is not None:
            case.agency, case.service = to

        step = self._lognormal(STEP_MEDIAN_MS[case.channel], 0.8)
        if kind in (InteractionKind.ABANDONED, InteractionKind.SELF_SERVICE_COMPLETED):
            self._finish(case, at)
        elif kind is InteractionKind.RESOLVED:
            if experience.reopened == 0 and rng.random() < 0.07:
                self._schedule(
                    case, InteractionKind.REOPENED, at + rng.randint(6 * HOUR_MS, 5 * DAY_MS)
                )
            self._finish(case, at)
        else:
            self._schedule(case, self._next_kind(case, kind), at + step)
        return case.case_id.encode(), document

    def _next_kind(self, case: _Case, last: InteractionKind) -> InteractionKind:
        if case.steps >= 8:
            return InteractionKind.RESOLVED
        service = SERVICE_BY_KEY[(case.agency, case.service)]
        hard = service.difficulty
        # (response, transferred, escalated, resolved, abandoned)
        table: dict[InteractionKind, tuple[float, float, float, float, float]] = {
            InteractionKind.FIRST_RESPONSE: (0.40, 0.10 + 0.08 * hard, 0.06, 0.36, 0.05),
            InteractionKind.RESPONSE: (0.22, 0.06 + 0.04 * hard, 0.06, 0.56, 0.08),
            InteractionKind.TRANSFERRED: (0.55, 0.05, 0.05, 0.27, 0.08),
            InteractionKind.ESCALATED: (0.40, 0.03, 0.0, 0.50, 0.07),
            InteractionKind.REOPENED: (0.45, 0.08, 0.20, 0.25, 0.02),
        }
        weights = table.get(last, table[InteractionKind.RESPONSE])
        kinds = (
            InteractionKind.RESPONSE,
            InteractionKind.TRANSFERRED,
            InteractionKind.ESCALATED,
            InteractionKind.RESOLVED,
            InteractionKind.ABANDONED,
        )
        return self._rng.choices(kinds, weights=weights)[0]

    def _transfer_target(self, case: _Case) -> tuple[str, str]:
        rng = self._rng
        service = SERVICE_BY_KEY[(case.agency, case.service)]
        siblings = [
            (other.agency, other.name)
            for other in SERVICES
            if other.agency == case.agency and other.name != case.service
        ]
        if service.transfers_to and (rng.random() < 0.7 or not siblings):
            return rng.choice(service.transfers_to)
        if siblings:
            return rng.choice(siblings)
        return (case.agency, case.service)

    def _schedule(self, case: _Case, kind: InteractionKind, due: int) -> None:
        case.next_kind = kind
        self._seq += 1
        heapq.heappush(self._cases, (due, self._seq, case))

    def _finish(self, case: _Case, at: int) -> None:
        rng = self._rng
        experience = case.experience
        if experience.self_service:
            chance = 0.35
        elif experience.abandoned:
            chance = 0.25
        else:
            chance = 0.55
        if rng.random() < chance:
            survey = _Survey(
                case.agency,
                case.service,
                case.channel,
                case.case_id,
                case.customer_ref,
                _Experience(**vars(experience)),
            )
            due = at + rng.randint(30_000, 90 * MINUTE_MS)
            self._seq += 1
            heapq.heappush(self._surveys, (due, self._seq, survey))
            if len(self._surveys) > 5000:  # nobody answers a survey weeks late
                self._surveys = heapq.nsmallest(2500, self._surveys)

    def _header(self, about: _Case | _Survey, at: int) -> dict[str, Any]:
        """The fields every event starts with: a fresh id, the time (at the agency's clock
        precision) and where the contact happened."""
        return {
            "event_id": self._uuid(),
            "occurred_at": _occurred_at(at, AGENCIES[about.agency].millis),
            "agency": about.agency,
            "service": about.service,
            "channel": about.channel.value,
        }

    def _interaction_doc(
        self, case: _Case, kind: InteractionKind, at: int, to: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        document = self._header(case, at)
        document["case_id"] = case.case_id
        if case.customer_ref is not None:
            document["customer_ref"] = case.customer_ref
        document["kind"] = kind.value
        if to is not None:
            document["to_agency"], document["to_service"] = to
        return document

    # -- feedback ------------------------------------------------------------------------

    def _feedback(self, feedback_only: bool) -> tuple[bytes, dict[str, Any]]:
        rng = self._rng
        if (
            not feedback_only
            and self._surveys
            and self._surveys[0][0] <= self._now_ms
            and rng.random() < 0.85
        ):
            due, _, survey = heapq.heappop(self._surveys)
            at = self._event_time(due)
        else:
            survey = self._standalone_survey()
            at = self._event_time(self._now_ms)
        document = self._feedback_doc(survey, at)
        return str(document["event_id"]).encode(), document

    def _standalone_survey(self) -> _Survey:
        rng = self._rng
        service = self._pick_service()
        channel = self._pick_channel(service)
        experience = _Experience(
            wait_ratio=math.exp(rng.gauss(0.0, 0.9)),
            transfers=rng.choices((0, 1, 2, 3), weights=(0.72, 0.18, 0.07, 0.03))[0],
            escalations=1 if rng.random() < 0.07 else 0,
            responses=rng.choices((0, 1, 2, 3, 4), weights=(0.3, 0.3, 0.2, 0.12, 0.08))[0],
            reopened=1 if rng.random() < 0.05 else 0,
            abandoned=rng.random() < 0.06,
        )
        experience.self_service = (
            channel in DIGITAL_CHANNELS and service.self_service and rng.random() < 0.4
        )
        experience.resolved = not experience.abandoned and rng.random() < 0.75
        case_id = None
        if rng.random() < 0.15:
            case_id = f"{service.agency}-{rng.randint(1, 9_999_999):07d}-{rng.getrandbits(24):06x}"
        customer = self._customer_ref(anonymous_share=0.3)
        return _Survey(service.agency, service.name, channel, case_id, customer, experience)

    def _feedback_doc(self, survey: _Survey, at: int) -> dict[str, Any]:
        rng = self._rng
        service = SERVICE_BY_KEY[(survey.agency, survey.service)]
        experience = survey.experience
        pain = experience.pain(service.difficulty)
        csat = _clamp(round(4.7 - pain + rng.gauss(0.0, 0.65)))
        shape = rng.choices(
            (
                "comment",
                "csat",
                "csat+comment",
                "csat+drivers",
                "csat+drivers+comment",
                "drivers",
                "drivers+comment",
            ),
            weights=(0.15, 0.20, 0.20, 0.20, 0.15, 0.05, 0.05),
        )[0]
        document = self._header(survey, at)
        if survey.case_id is not None:
            document["case_id"] = survey.case_id
        if survey.customer_ref is not None:
            document["customer_ref"] = survey.customer_ref
        if "csat" in shape:
            document["csat"] = csat
        if "drivers" in shape:
            document["drivers"] = self._drivers(survey, csat)
        if "comment" in shape:
            document["comment"] = self._comment(survey, service, csat)
        return document

    def _drivers(self, survey: _Survey, csat: int) -> dict[str, int]:
        rng = self._rng
        experience = survey.experience
        asked = [
            item
            for item in AGENCIES[survey.agency].drivers
            if item != "employee_helpfulness" or survey.channel in HUMAN_CHANNELS
        ]
        wait_penalty = max(0.0, math.log2(max(experience.wait_ratio, 1e-6)))
        shifts = {
            "satisfaction": 0.0,
            "trust": 0.2 - 0.4 * experience.reopened,
            "effectiveness": (0.4 if experience.resolved else -0.8),
            "ease": -0.6 * experience.transfers + (0.4 if experience.self_service else 0.0),
            "efficiency": -0.6 * wait_penalty - 0.3 * max(0, experience.responses - 2),
            "transparency": -0.5 * experience.reopened - (0.7 if experience.abandoned else 0.0),
            "employee_helpfulness": 0.5 - 0.4 * experience.escalations,
        }
        answers: dict[str, int] = {}
        for item in asked:
            if rng.random() < 0.08:  # skipped the question
                continue
            answers[item] = _clamp(round(csat + shifts[item] + rng.gauss(0.0, 0.55)))
        if not answers:
            answers["satisfaction"] = csat
        return answers

    def _comment(self, survey: _Survey, service: Service, csat: int) -> str:
        rng = self._rng
        experience = survey.experience
        sentiments, weights = {
            1: (("negative", "mixed"), (0.85, 0.15)),
            2: (("negative", "mixed", "neutral"), (0.65, 0.25, 0.10)),
            3: (("neutral", "mixed", "negative", "positive"), (0.45, 0.35, 0.12, 0.08)),
            4: (("positive", "mixed", "neutral"), (0.6, 0.25, 0.15)),
            5: (("positive", "neutral"), (0.9, 0.1)),
        }[csat]
        sentiment = rng.choices(sentiments, weights=weights)[0]
        wait_penalty = max(0.0, math.log2(max(experience.wait_ratio, 1e-6)))
        topic_weights = dict(COMMENT_TOPIC_BASE)
        topic_weights["wait"] += 1.8 * wait_penalty
        topic_weights["transfer"] += 1.6 * experience.transfers
        if survey.channel in DIGITAL_CHANNELS:
            topic_weights["website"] += 1.6
        if survey.channel in HUMAN_CHANNELS:
            topic_weights["staff"] += 1.2
        topics = [t for t in topic_weights if (sentiment, t) in TEMPLATES_BY]
        topic = rng.choices(topics, weights=[topic_weights[t] for t in topics])[0]
        index = rng.choice(TEMPLATES_BY[(sentiment, topic)])
        slots = {
            name: self._slot(name, survey, service, experience) for name in TEMPLATE_SLOTS[index]
        }
        text = TEMPLATES[index][2].format_map(slots)
        text = text[0].upper() + text[1:]
        style = rng.random()
        if style < 0.06:
            text = text.lower()
        elif style < 0.09:
            text = text.rstrip(".!") + "!!"
        elif style < 0.11:
            text = text.upper()
        return text

    def _slot(self, name: str, survey: _Survey, service: Service, experience: _Experience) -> str:
        rng = self._rng
        agency = AGENCIES[survey.agency]
        if name == "service":
            return rng.choice(service.phrases)
        if name == "form":
            return rng.choice(service.forms)
        if name == "agency":
            return agency.display
        if name == "office":
            return rng.choice(agency.offices)
        if name == "staff":
            return rng.choice(STAFF).format(window=rng.randint(2, 14))
        if name == "channel":
            return rng.choice(CHANNEL_PHRASES[survey.channel])
        if name == "short_wait":
            return rng.choice(SHORT_WAITS)
        if name == "long_wait":
            return rng.choice(LONG_WAITS)
        if name == "transfers":
            count = max(2, experience.transfers + 1)
            return NUMBER_WORDS[count] if count < 10 and rng.random() < 0.5 else str(count)
        if name == "attempts":
            return str(rng.randint(3, 9))
        if name == "days":
            return str(rng.randint(2, 10))
        if name == "weeks":
            return str(rng.randint(3, 16))
        if name == "case_hint":
            return survey.case_id or f"{survey.agency.upper()}-{rng.randint(10_000, 99_999)}"
        raise KeyError(name)

    # -- envelopes and ids ---------------------------------------------------------------

    def _cloudevent(self, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        rng = self._rng
        envelope: dict[str, Any] = {
            "specversion": "1.0",
            "id": str(data.get("event_id") or self._uuid()),
            "source": f"/agencies/{data.get('agency', 'unknown')}",
            "type": event_type,
        }
        roll = rng.random()
        has_time = isinstance(data.get("occurred_at"), str)
        if has_time and roll >= 0.1:  # time is optional in CloudEvents; most producers send it
            envelope["time"] = data["occurred_at"]
        if isinstance(data.get("case_id"), str):
            envelope["subject"] = data["case_id"]
        envelope["datacontenttype"] = "application/json"
        body = dict(data)
        if "time" in envelope and "event_id" in body and rng.random() < 0.35:
            # The envelope already carries them: id/time fill event_id/occurred_at.
            del body["event_id"], body["occurred_at"]
        envelope["data"] = body
        return envelope

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _new_customer_ref(self) -> str:
        return f"c-{self._rng.getrandbits(40):010x}"

    def _customer_ref(self, anonymous_share: float) -> str | None:
        rng = self._rng
        roll = rng.random()
        if roll < anonymous_share:
            return None
        roll = rng.random()
        if roll < 0.04:
            return rng.choice(self._frequent)
        if roll < 0.35 and self._customers:
            recent = self._customers[-400:]
            return recent[int(len(recent) * rng.random() ** 0.5) if len(recent) > 1 else 0]
        ref = self._new_customer_ref()
        self._customers.append(ref)
        if len(self._customers) > 4000:
            del self._customers[:2000]
        return ref

    def _pick_service(self) -> Service:
        return self._rng.choices(SERVICES, weights=SERVICE_WEIGHTS)[0]

    def _pick_channel(self, service: Service) -> Channel:
        return self._rng.choices(CHANNELS, weights=service.channels)[0]

    def _lognormal(self, median: int, sigma: float) -> int:
        value = median * math.exp(self._rng.gauss(0.0, sigma))
        return max(1000, min(MAX_DELAY_MS, int(value)))

    # -- malformed records ---------------------------------------------------------------

    # The deck repeats schema violations and bad JSON, the common producer bugs in practice,
    # and holds every category, so a short run still shows each of them.
    _DECK = (
        RejectCategory.EMPTY,
        RejectCategory.OVERSIZE,
        RejectCategory.NOT_UTF8,
        RejectCategory.MALFORMED_JSON,
        RejectCategory.MALFORMED_JSON,
        RejectCategory.NOT_OBJECT,
        RejectCategory.SCHEMA_VIOLATION,
        RejectCategory.SCHEMA_VIOLATION,
        RejectCategory.SCHEMA_VIOLATION,
        RejectCategory.UNKNOWN_EVENT_TYPE,
        RejectCategory.UNKNOWN_EVENT_TYPE,
        RejectCategory.NESTING_TOO_DEEP,
        RejectCategory.UNSUPPORTED_CONTENT_TYPE,
        RejectCategory.EVENT_TIME_OUT_OF_RANGE,
    )

    def _malformed(self, event_type: str) -> GeneratedRecord:
        rng = self._rng
        if not self._malformed_deck:
            deck = [category.value for category in self._DECK]
            rng.shuffle(deck)
            self._malformed_deck = deck
        category = RejectCategory(self._malformed_deck.pop())
        base = self._base_document(event_type)
        key: bytes | None = str(
            base["case_id"] if event_type == INTERACTION_TYPE else base["event_id"]
        ).encode()
        builders: dict[RejectCategory, Callable[[str, dict[str, Any]], bytes]] = {
            RejectCategory.EMPTY: self._empty,
            RejectCategory.OVERSIZE: self._oversize,
            RejectCategory.NOT_UTF8: self._not_utf8,
            RejectCategory.MALFORMED_JSON: self._malformed_json,
            RejectCategory.NOT_OBJECT: self._not_object,
            RejectCategory.SCHEMA_VIOLATION: self._schema_violation,
            RejectCategory.UNKNOWN_EVENT_TYPE: self._unknown_type,
            RejectCategory.NESTING_TOO_DEEP: self._too_deep,
            RejectCategory.UNSUPPORTED_CONTENT_TYPE: self._not_json_data,
            RejectCategory.EVENT_TIME_OUT_OF_RANGE: self._out_of_time,
        }
        value = builders[category](event_type, base)
        if rng.random() < 0.1:
            key = None
        return GeneratedRecord(event_type, key, value, KIND_MALFORMED, category.value)

    def _base_document(self, event_type: str) -> dict[str, Any]:
        """A plausible event (not recorded in the stream state) to break in some way."""
        survey = self._standalone_survey()
        at = self._now_ms
        if event_type == FEEDBACK_TYPE:
            document = self._feedback_doc(survey, at)
            if "comment" not in document:
                document["comment"] = "The website kept timing out."
            return document
        self._case_counter += 1
        case = _Case(
            f"{survey.agency}-{self._case_counter:07d}-{self._rng.getrandbits(24):06x}",
            survey.agency,
            survey.service,
            survey.channel,
            survey.customer_ref,
            InteractionKind.OPENED,
        )
        kind = self._rng.choice(
            (InteractionKind.OPENED, InteractionKind.RESPONSE, InteractionKind.RESOLVED)
        )
        return self._interaction_doc(case, kind, at)

    def _empty(self, event_type: str, base: dict[str, Any]) -> bytes:
        return b""

    def _oversize(self, event_type: str, base: dict[str, Any]) -> bytes:
        rng = self._rng
        target = DEFAULT_MAX_EVENT_BYTES + rng.randint(1, 48 * 1024)
        document = dict(base)
        if rng.random() < 0.5:
            # A whole scanned document attached inline by a misbehaving client.
            document["attachment"] = ""
            room = target - len(_dumps(document))
            document["attachment"] = base64.b64encode(rng.randbytes(room * 3 // 4 + 3)).decode()
        else:
            # A pasted log or letter repeated into the comment box.
            pasted = (
                "Dear Sir or Madam, I am writing again about my case because nobody has "
                "answered my previous letters. "
            )
            document["comment"] = ""
            room = target - len(_dumps(document))
            document["comment"] = (pasted * (room // len(pasted) + 1))[:room]
        value = _dumps(document)
        if len(value) <= DEFAULT_MAX_EVENT_BYTES:  # pragma: no cover - sizes above guarantee it
            value += b" " * (DEFAULT_MAX_EVENT_BYTES + 1 - len(value))
        return value

    def _not_utf8(self, event_type: str, base: dict[str, Any]) -> bytes:
        rng = self._rng
        variant = rng.randrange(3)
        if variant == 0:
            # Latin-1 from a legacy system: 'é'/'ñ' followed by ASCII is never valid UTF-8.
            document = dict(base)
            document["comment"] = rng.choice(
                (
                    "Muy amable la señora, gracias.",
                    "Très bien, merci.",
                    "Atención rápida y eficaz.",
                    "La página de búsqueda no funciona.",
                )
            )
            return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("latin-1")
        if variant == 1:
            # gzip-compressed body sent without the compression codec (0x8b is a bare
            # continuation byte).
            return gzip.compress(_dumps(base), mtime=0)
        # UTF-16 with a byte-order mark (0xff never occurs in UTF-8).
        return b"\xff\xfe" + json.dumps(base, separators=(",", ":")).encode("utf-16-le")

    def _malformed_json(self, event_type: str, base: dict[str, Any]) -> bytes:
        rng = self._rng
        text = json.dumps(base, ensure_ascii=False, separators=(",", ":"))
        variant = rng.randrange(7)
        if variant == 5:  # a field given twice: parsers disagree on which one wins
            return (text[:-1] + f',"agency":{json.dumps(base["agency"])}}}').encode()
        if variant == 6:  # a lone surrogate escape, as some UTF-16 encoders write it
            return (text[:-1] + ',"\\udc00x":1}').encode()
        if variant == 0:  # truncated mid-record: a proper prefix of an object is never JSON
            return text[: rng.randint(1, len(text) - 1)].encode()
        if variant == 1:  # Python repr instead of JSON
            return repr(base).encode()
        if variant == 2:  # trailing comma
            return (text[:-1] + ",}").encode()
        if variant == 3:  # two events in one record (newline-delimited batch)
            return (text + "\n" + text).encode()
        # form-encoded instead of JSON
        return "&".join(f"{name}={value}" for name, value in base.items()).encode()

    def _not_object(self, event_type: str, base: dict[str, Any]) -> bytes:
        rng = self._rng
        variant = rng.randrange(5)
        if variant == 0:  # a batch as a JSON array
            return json.dumps([base, self._base_document(event_type)]).encode()
        if variant == 1:  # double-encoded: the event as a JSON string
            return json.dumps(json.dumps(base)).encode()
        if variant == 2:
            return b"null"
        if variant == 3:  # a bare rating
            return str(rng.randint(1, 5)).encode()
        return b"true"

    def _schema_violation(self, event_type: str, base: dict[str, Any]) -> bytes:
        rng = self._rng
        document = dict(base)
        common: list[Callable[[], None]] = [
            lambda: document.pop(rng.choice(("agency", "service", "channel", "occurred_at"))),
            lambda: document.update(channel=rng.choice(("fax", "Web", "sms", "kiosk"))),
            lambda: document.update(
                occurred_at=rng.choice(
                    (
                        document["occurred_at"][:19],  # no offset
                        "11/02/2026 08:15:00",
                        "2026-02-30T09:00:00Z",  # not a real date
                    )
                )
            ),
            lambda: document.update(occurred_at=self._now_ms // 1000),  # epoch number
            lambda: document.update(
                agency=rng.choice(("SSA", "Social Security Administration", "irs.gov"))
            ),
            lambda: document.update(survey_version="2"),  # field outside the contract
            lambda: document.update(event_id=""),
        ]
        if event_type == FEEDBACK_TYPE:
            specific: list[Callable[[], None]] = [
                lambda: document.update(csat=rng.choice((0, 6, 10, -1))),
                lambda: document.update(csat=rng.choice(("5", 4.5, True, "excellent"))),
                lambda: _drop(document, "csat", "drivers", "comment"),  # no content at all
                lambda: document.update(drivers={}),
                lambda: document.update(drivers={"speed": 4}),
                lambda: document.update(drivers={"ease": 7, "trust": 3}),
                lambda: document.update(comment="Too long. " * 1_100),  # over 10,000 characters
            ]
        else:
            specific = [
                lambda: document.pop("case_id"),
                lambda: document.update(kind=rng.choice(("closed", "OPENED", "callback"))),
                lambda: document.update(kind="transferred", to_agency="Department of Labor"),
                lambda: document.pop("kind"),
            ]
        envelope_faults: list[Callable[[dict[str, Any]], None]] = [
            lambda envelope: envelope.pop("source"),
            lambda envelope: envelope.update(specversion="0.3"),
            lambda envelope: envelope.update(data=json.dumps(envelope["data"])),
            lambda envelope: envelope.update(id=12345),
        ]
        roll = rng.random()
        if roll < 0.2:
            envelope = self._cloudevent(event_type, document)
            rng.choice(envelope_faults)(envelope)
            return _dumps(envelope)
        rng.choice(specific if roll < 0.65 else common)()
        if rng.random() < 0.2:
            # The same faults inside an otherwise correct envelope (data keeps its ids so the
            # envelope cannot repair them).
            envelope = self._cloudevent(event_type, document)
            envelope["data"] = document
            if "occurred_at" not in document:
                envelope.pop("time", None)
            return _dumps(envelope)
        return _dumps(document)

    def _unknown_type(self, event_type: str, base: dict[str, Any]) -> bytes:
        rng = self._rng
        other = INTERACTION_TYPE if event_type == FEEDBACK_TYPE else FEEDBACK_TYPE
        wrong = rng.choice(
            (
                other,  # published to the wrong topic
                "gov.servicepulse.complaint.v1",
                event_type.replace(".v1", ".v2"),
                "com.example.test.ping",
            )
        )
        envelope = self._cloudevent(event_type, base)
        envelope["type"] = wrong
        return _dumps(envelope)

    def _too_deep(self, event_type: str, base: dict[str, Any]) -> bytes:
        depth = self._rng.choice((40, 1_000, 30_000))  # past the limit, the parser's, the stack's
        return _dumps(base)[:-1] + b',"x":' + b"[" * depth + b"]" * depth + b"}"

    def _not_json_data(self, event_type: str, base: dict[str, Any]) -> bytes:
        envelope = self._cloudevent(event_type, base)
        envelope["datacontenttype"] = self._rng.choice(
            ("application/xml", "text/plain", "application/x-www-form-urlencoded")
        )
        return _dumps(envelope)

    def _out_of_time(self, event_type: str, base: dict[str, Any]) -> bytes:
        document = dict(base)
        document["occurred_at"] = self._rng.choice(
            ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "1969-07-20T20:17:40Z")
        )
        return _dumps(document)


def _dumps(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _occurred_at(ms: int, millis: bool) -> str:
    # Exact: a millisecond epoch time divided by 1000 rounds to the same microsecond.
    return rfc3339(ms / 1000, "milliseconds" if millis else "seconds")


def _drop(document: dict[str, Any], *names: str) -> None:
    for name in names:
        document.pop(name, None)


def _clamp(value: int) -> int:
    return max(1, min(5, value))
