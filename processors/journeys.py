"""Customer journeys across agencies and channels, and the "run-around" they may reveal.

The caller keeps one journey dict per (pseudonymous) ``customer_ref`` in a Faust table and
applies every interaction and feedback event carrying that reference, in arrival order, with
:func:`apply_journey_event`. Times are event times in POSIX seconds; nothing reads a clock.

A *need* is the service a case was opened for. It does not change when the case is
transferred, so a need that travels through several agencies (a transfer to another agency,
or the customer opening the same service elsewhere) is the cross-agency run-around the
journey is meant to expose. A journey is flagged run-around when any rule of
:class:`RunAroundRules` fires; every threshold is inclusive ("at least").

When a case closes (resolved, abandoned or self-service completed) and its opening is known,
the journey yields one ``run_around_rate`` observation for the group that opened the case:
1.0 if *that case's need* was run around (the case itself hit the transfer rule, or its need hit
the agency or repeat-contact rule), else 0.0. Like the other per-case standards it is emitted
once and never retracted; later events only change the journey message.

Robustness: redelivered events (same ``event_id``) change nothing; events may arrive out of
order (a close before its opening is observed when the opening arrives); every list is bounded
so a runaway producer cannot grow the state without limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from servicepulse.processors.cases import CLOSING_KINDS, SECONDS_PER_DAY, Observation
from servicepulse.processors.pseudonym import looks_like_raw_pii
from servicepulse.processors.timestamps import rfc3339
from servicepulse.schemas.models import FeedbackEvent, InteractionEvent, InteractionKind


class JourneyCase(TypedDict):
    """What a journey remembers of one of the customer's cases."""

    opened_at: float | None
    # [agency, service, channel] that opened the case, once known.
    group: list[str] | None
    # The opening's service; provisional until the opened event arrives.
    need: str
    agencies: list[str]
    transfers: int
    closed_at: float | None
    reopened_at: float | None
    last_at: float
    observed: bool


class Journey(TypedDict):
    """One customer's journey (a changelog value keyed by ``customer_ref``)."""

    customer_ref: str
    event_ids: list[str]
    first_contact_at: float | None
    last_event_at: float | None
    contacts: int
    agencies: list[str]
    # [agency, service] pairs (JSON arrays).
    services: list[list[str]]
    channels: list[str]
    transfers: int
    repeat_contacts: int
    self_service_completions: int
    feedback_events: int
    # [opened_at, need, case_id], sorted by time: for the repeat-contact rule.
    openings: list[list[Any]]
    cases: dict[str, JourneyCase]
    run_around: bool
    run_around_reasons: list[str]


RUN_AROUND_STANDARD = "run_around_rate"
# Reason codes, in the order they are reported.
REASON_TRANSFERS = "transfers_per_case"
REASON_AGENCIES = "agencies_per_need"
REASON_REPEATS = "repeat_contacts"
REASONS = (REASON_TRANSFERS, REASON_AGENCIES, REASON_REPEATS)

# Bounds on the stored state; generous for one person, small for a table row.
MAX_EVENT_IDS = 300
MAX_AGENCIES = 50
MAX_SERVICES = 100
MAX_CASES = 100
MAX_OPENINGS = 200
MAX_CASE_AGENCIES = 20


@dataclass(frozen=True, slots=True)
class RunAroundRules:
    """When a journey counts as run-around (each threshold inclusive)."""

    # One case transferred this many times or more.
    max_transfers_per_case: int = 3
    # One need handled by this many distinct agencies or more (across its cases).
    max_agencies_same_need: int = 2
    # This many openings for one need within ``repeat_window_days`` (the first contact counts).
    max_repeat_contacts: int = 3
    repeat_window_days: int = 30

    @property
    def repeat_window_seconds(self) -> float:
        return float(self.repeat_window_days * SECONDS_PER_DAY)


@dataclass(frozen=True, slots=True)
class JourneyUpdate:
    """What one accepted event changed: the journey's verdict and any new observations."""

    run_around: bool
    reasons: tuple[str, ...]
    # True when this event turned a journey that was not run-around into one that is.
    newly_run_around: bool
    observations: tuple[Observation, ...] = field(default=())


def new_journey(customer_ref: str) -> Journey:
    """State for a customer before any event has been applied."""
    return {
        "customer_ref": customer_ref,
        "event_ids": [],
        "first_contact_at": None,
        "last_event_at": None,
        "contacts": 0,
        "agencies": [],
        "services": [],
        "channels": [],
        "transfers": 0,
        "repeat_contacts": 0,
        "self_service_completions": 0,
        "feedback_events": 0,
        # [opened_at, need, case_id], sorted by time: for the repeat-contact rule.
        "openings": [],
        "cases": {},
        "run_around": False,
        "run_around_reasons": [],
    }


def _new_case(event: InteractionEvent, t: float) -> JourneyCase:
    return {
        "opened_at": None,
        "group": None,  # agency/service/channel that opened the case, once known
        # Provisional until the opened event arrives: the first event's service.
        "need": event.service,
        "agencies": [],
        "transfers": 0,
        "closed_at": None,
        "reopened_at": None,
        "last_at": t,
        "observed": False,
    }


def _add_bounded(items: list[Any], item: Any, limit: int) -> list[Any]:
    # Keep the most recent distinct values: a value seen again moves to the end.
    kept = [existing for existing in items if existing != item]
    kept.append(item)
    return kept[-limit:]


def apply_journey_event(
    state: Journey | None, event: InteractionEvent | FeedbackEvent, rules: RunAroundRules
) -> tuple[Journey, JourneyUpdate | None]:
    """Apply one event of ``event.customer_ref``'s journey (``state`` None if new).

    Returns the new state (the input is not modified) and the update, or None when the event
    was already applied.
    """
    if event.customer_ref is None:
        raise ValueError(f"event {event.event_id!r} has no customer_ref; it has no journey")
    journey = _copy(state) if state is not None else new_journey(event.customer_ref)
    if journey["customer_ref"] != event.customer_ref:
        raise ValueError(
            f"event for {event.customer_ref!r} applied to journey {journey['customer_ref']!r}"
        )
    if event.event_id in journey["event_ids"]:
        return (state if state is not None else journey), None
    was_run_around = bool(journey["run_around"])
    journey["event_ids"] = [*journey["event_ids"], event.event_id][-MAX_EVENT_IDS:]
    t = event.occurred_at_epoch
    first = journey["first_contact_at"]
    journey["first_contact_at"] = t if first is None else min(first, t)
    last = journey["last_event_at"]
    journey["last_event_at"] = t if last is None else max(last, t)
    journey["agencies"] = _add_bounded(journey["agencies"], event.agency, MAX_AGENCIES)
    journey["services"] = _add_bounded(
        journey["services"], [event.agency, event.service], MAX_SERVICES
    )
    journey["channels"] = _add_bounded(journey["channels"], str(event.channel), 16)
    observations: list[Observation] = []
    if isinstance(event, FeedbackEvent):
        journey["feedback_events"] += 1
    else:
        _apply_interaction(journey, event, t, rules)
        _evaluate(journey, rules)
        observation = run_around_observation(journey, event.case_id, rules)
        case = journey["cases"].get(event.case_id)
        if observation is not None and case is not None and not case["observed"]:
            journey["cases"][event.case_id] = {**case, "observed": True}
            observations.append(observation)
    _evaluate(journey, rules)
    update = JourneyUpdate(
        run_around=bool(journey["run_around"]),
        reasons=tuple(journey["run_around_reasons"]),
        newly_run_around=bool(journey["run_around"]) and not was_run_around,
        observations=tuple(observations),
    )
    return journey, update


def _copy(journey: Journey) -> Journey:
    # Nested values are replaced, never mutated in place, except ``cases`` which is copied.
    copied = journey.copy()
    copied["cases"] = dict(journey["cases"])
    return copied


def _apply_interaction(
    journey: Journey, event: InteractionEvent, t: float, rules: RunAroundRules
) -> None:
    cases = journey["cases"]
    case = (cases.get(event.case_id) or _new_case(event, t)).copy()
    case["last_at"] = max(case["last_at"], t)
    case["agencies"] = _add_bounded(case["agencies"], event.agency, MAX_CASE_AGENCIES)
    kind = event.kind
    if kind == InteractionKind.OPENED and case["opened_at"] is None:
        case["opened_at"] = t
        case["group"] = [event.agency, event.service, str(event.channel)]
        case["need"] = event.service
        journey["contacts"] += 1
        _record_opening(journey, t, event.service, event.case_id, rules)
    elif kind == InteractionKind.TRANSFERRED:
        journey["transfers"] += 1
        case["transfers"] += 1
        if event.to_agency is not None:
            case["agencies"] = _add_bounded(case["agencies"], event.to_agency, MAX_CASE_AGENCIES)
            journey["agencies"] = _add_bounded(journey["agencies"], event.to_agency, MAX_AGENCIES)
        if event.to_service is not None:
            target = [event.to_agency or event.agency, event.to_service]
            journey["services"] = _add_bounded(journey["services"], target, MAX_SERVICES)
    elif kind == InteractionKind.REOPENED:
        case["reopened_at"] = t if case["reopened_at"] is None else max(case["reopened_at"], t)
    if kind == InteractionKind.SELF_SERVICE_COMPLETED:
        journey["self_service_completions"] += 1
    if kind in CLOSING_KINDS:
        case["closed_at"] = t if case["closed_at"] is None else max(case["closed_at"], t)
    cases[event.case_id] = case
    journey["cases"] = _bounded_cases(cases)


def _record_opening(
    journey: Journey, t: float, need: str, case_id: str, rules: RunAroundRules
) -> None:
    window = rules.repeat_window_seconds
    openings: list[list[Any]] = journey["openings"]
    if any(entry[1] == need and t - window <= entry[0] <= t for entry in openings):
        journey["repeat_contacts"] += 1
    newest = max([t, *(entry[0] for entry in openings)])
    # An opening older than the window before the newest one can no longer be in a window
    # with a future contact (arrivals that late are judged on what is left).
    kept = [entry for entry in openings if entry[0] >= newest - window]
    kept.append([t, need, case_id])
    journey["openings"] = sorted(kept, key=lambda entry: entry[0])[-MAX_OPENINGS:]


def _bounded_cases(cases: dict[str, JourneyCase]) -> dict[str, JourneyCase]:
    if len(cases) <= MAX_CASES:
        return cases
    # Forget closed cases first, oldest activity first; then the oldest open ones.
    order = sorted(cases, key=lambda cid: (not _is_closed(cases[cid]), cases[cid]["last_at"]))
    drop = set(order[: len(cases) - MAX_CASES])
    return {cid: case for cid, case in cases.items() if cid not in drop}


def _is_closed(case: JourneyCase) -> bool:
    closed, reopened = case["closed_at"], case["reopened_at"]
    return closed is not None and (reopened is None or reopened <= closed)


def _is_open(case: JourneyCase) -> bool:
    return case["opened_at"] is not None and not _is_closed(case)


def _need_agencies(journey: Journey) -> dict[str, set[str]]:
    agencies: dict[str, set[str]] = {}
    for case in journey["cases"].values():
        agencies.setdefault(case["need"], set()).update(case["agencies"])
    return agencies


def _repeat_hit(times: list[float], rules: RunAroundRules, around: float | None) -> bool:
    """Whether some window of ``repeat_window_days`` holds ``max_repeat_contacts`` openings
    (and contains ``around`` if given)."""
    window = rules.repeat_window_seconds
    times = sorted(times)
    for index, start in enumerate(times):
        if around is not None and not start <= around <= start + window:
            continue
        inside = sum(1 for other in times[index:] if other <= start + window)
        if inside >= rules.max_repeat_contacts:
            return True
    return False


def _need_times(journey: Journey, need: str) -> list[float]:
    return [float(entry[0]) for entry in journey["openings"] if entry[1] == need]


def _evaluate(journey: Journey, rules: RunAroundRules) -> None:
    reasons: list[str] = []
    cases = journey["cases"].values()
    if any(case["transfers"] >= rules.max_transfers_per_case for case in cases):
        reasons.append(REASON_TRANSFERS)
    if any(len(a) >= rules.max_agencies_same_need for a in _need_agencies(journey).values()):
        reasons.append(REASON_AGENCIES)
    needs = {entry[1] for entry in journey["openings"]}
    if any(_repeat_hit(_need_times(journey, need), rules, None) for need in needs):
        reasons.append(REASON_REPEATS)
    journey["run_around"] = bool(reasons)
    journey["run_around_reasons"] = reasons


def case_run_around(journey: Journey, case_id: str, rules: RunAroundRules) -> list[str]:
    """The run-around reasons that apply to one case's need (empty if none or unknown)."""
    case = journey["cases"].get(case_id)
    if case is None:
        return []
    reasons: list[str] = []
    if case["transfers"] >= rules.max_transfers_per_case:
        reasons.append(REASON_TRANSFERS)
    if len(_need_agencies(journey).get(case["need"], set())) >= rules.max_agencies_same_need:
        reasons.append(REASON_AGENCIES)
    opened_at = case["opened_at"]
    if opened_at is not None and _repeat_hit(_need_times(journey, case["need"]), rules, opened_at):
        reasons.append(REASON_REPEATS)
    return reasons


def run_around_observation(
    journey: Journey, case_id: str, rules: RunAroundRules
) -> Observation | None:
    """The ``run_around_rate`` observation for a closed case whose opening is known, at its
    close time and for the group that opened it; None otherwise. (Whether it was already
    emitted is tracked by :func:`apply_journey_event`, not here.)"""
    case = journey["cases"].get(case_id)
    if case is None or case["group"] is None or case["closed_at"] is None:
        return None
    agency, service, channel = case["group"]
    value = 1.0 if case_run_around(journey, case_id, rules) else 0.0
    return Observation(agency, service, channel, RUN_AROUND_STANDARD, case["closed_at"], value)


def last_event_at(journey: Journey) -> float:
    """Event time of the journey's latest event; a journey with no event has none."""
    last = journey["last_event_at"]
    if last is None:
        raise ValueError("journey has no events yet")
    return last


def open_cases(journey: Journey) -> list[str]:
    """Case ids opened and not (or no longer) closed, oldest opening first."""
    cases = journey["cases"]
    ids = [cid for cid, case in cases.items() if _is_open(case)]
    return sorted(ids, key=lambda cid: (cases[cid]["opened_at"], cid))


def journey_message(customer_ref: str, journey: Journey, at: float) -> dict[str, Any]:
    """The ``customer.journeys`` message (schema ``customer-journey.v1``) at time ``at``.

    Counts, ids and codes only: no free text. A ``customer_ref`` that is still a raw e-mail,
    phone or SSN is refused, since the edge must have protected it before it got here.
    """
    if looks_like_raw_pii(customer_ref) is not None:
        raise ValueError("customer_ref looks like a raw identifier; protect it first")
    last = last_event_at(journey)
    first = journey["first_contact_at"]
    assert first is not None  # set with last_event_at by every event
    cases = journey["cases"].values()
    agencies_per_need = _need_agencies(journey)
    return {
        "customer_ref": customer_ref,
        "as_of": rfc3339(at, "auto"),
        "first_contact_at": rfc3339(first, "auto"),
        "last_event_at": rfc3339(last, "auto"),
        "contacts": journey["contacts"],
        "agencies": list(journey["agencies"]),
        "services": [{"agency": a, "service": s} for a, s in journey["services"]],
        "channels": list(journey["channels"]),
        "transfers": journey["transfers"],
        "max_transfers_in_case": max((case["transfers"] for case in cases), default=0),
        "max_agencies_for_need": max((len(a) for a in agencies_per_need.values()), default=0),
        "repeat_contacts": journey["repeat_contacts"],
        "self_service_completions": journey["self_service_completions"],
        "feedback_events": journey["feedback_events"],
        "open_cases": open_cases(journey)[:MAX_CASES],
        "run_around": bool(journey["run_around"]),
        "run_around_reasons": list(journey["run_around_reasons"]),
    }


__all__ = [
    "REASONS",
    "RUN_AROUND_STANDARD",
    "Journey",
    "JourneyUpdate",
    "RunAroundRules",
    "apply_journey_event",
    "case_run_around",
    "journey_message",
    "last_event_at",
    "new_journey",
    "open_cases",
    "run_around_observation",
]
