"""Case correlation: interaction events -> per-case state -> standard observations.

The caller keeps one case dict per ``case_id`` (a Faust table keyed by case) and one contact
history per ``customer_ref``; both are plain JSON values. Nothing here reads a clock: every
time is an event time in POSIX seconds.

Robustness rules:

* redelivery: an ``event_id`` already applied changes nothing and yields nothing;
* out of order: a measurement is observed once both of its ends are known, whichever arrives
  first (first_response before opened is observed when opened arrives); each standard is
  observed at most once per case, tracked in ``emitted``;
* transfers: the holder at time ``t`` is the opening group with every transfer at or before
  ``t`` applied in event-time order, so a late-arriving transfer still places later
  completions correctly.

Attribution: time_to_first_response, time_to_resolution, abandonment_rate and
self_service_share go to the group holding the case when the measured thing completes;
transfer_rate goes to the group that opened the case. The closing event (resolved, abandoned
or self_service_completed) that is *processed* first drives the per-case observations, which
are never retracted: a closing or transfer event that arrives after the case's closure was
observed is recorded in the state but changes no observation already emitted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, NotRequired, TypedDict

from servicepulse.schemas.models import FeedbackEvent, InteractionEvent, InteractionKind


class Group(TypedDict):
    agency: str
    service: str
    channel: str


class Opened(Group):
    at: float


class Closed(TypedDict):
    at: float
    kind: str


class Case(TypedDict):
    """One case's state (a changelog value keyed by ``case_id``); see ``new_case``."""

    case_id: str
    event_ids: list[str]
    origin: Group | None
    opened: Opened | None
    agency: str | None
    service: str | None
    channel: str | None
    first_response_at: float | None
    # [at, to_agency or None, to_service or None], sorted by time (JSON arrays).
    transfers: list[list[Any]]
    escalations: int
    reopens: int
    self_service: bool
    closed: Closed | None
    last_closed_at: float | None
    last_reopened_at: float | None
    # Standards already observed for the case.
    emitted: list[str]
    # Partition the stream edge last stored the case from.
    p: NotRequired[int]


class History(TypedDict):
    """One customer's recent case openings (a changelog value keyed by ``customer_ref``)."""

    customer_ref: str
    # [opened_at, agency, service, case_id or None], sorted by time (JSON arrays).
    contacts: list[list[Any]]


SECONDS_PER_DAY = 86_400
# A case has few events; the cap only guards the state size against a runaway producer.
MAX_EVENT_IDS = 500
MAX_CONTACTS = 200

CLOSING_KINDS = frozenset(
    {InteractionKind.RESOLVED, InteractionKind.ABANDONED, InteractionKind.SELF_SERVICE_COMPLETED}
)
# Closing kinds after which the case counts as resolved (an abandoned case is not).
RESOLVING_KINDS = frozenset({InteractionKind.RESOLVED, InteractionKind.SELF_SERVICE_COMPLETED})
GOOD_SCORE = 4  # A-11 style: a 4 or 5 on the 1–5 scale counts as satisfied


@dataclass(frozen=True, slots=True)
class Observation:
    """One measurement for one standard in one group.

    ``at`` is the event time at which the measured thing completed (e.g. the first response);
    it picks the windows. ``value`` is seconds for durations, 1.0 (hit) or 0.0 for rates.
    """

    agency: str
    service: str
    channel: str
    standard: str
    at: float
    value: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_case(case_id: str) -> Case:
    """State for a case before any of its events has been applied."""
    return {
        "case_id": case_id,
        "event_ids": [],
        # Group of the first event seen; the holder until the opened event is known.
        "origin": None,
        "opened": None,
        "agency": None,
        "service": None,
        "channel": None,
        "first_response_at": None,
        "transfers": [],
        "escalations": 0,
        "reopens": 0,
        "self_service": False,
        "closed": None,
        "last_closed_at": None,
        "last_reopened_at": None,
        "emitted": [],
    }


def _group(event: InteractionEvent) -> Group:
    return {"agency": event.agency, "service": event.service, "channel": str(event.channel)}


def holder_at(case: Case, t: float) -> Group | None:
    """The agency/service/channel holding the case at event time ``t`` (None before any
    event of the case has been applied)."""
    base = case["opened"] or case["origin"]
    return None if base is None else _holder(base, case["transfers"], t)


def _holder(base: Group, transfers: list[list[Any]], t: float) -> Group:
    holder: Group = {
        "agency": base["agency"],
        "service": base["service"],
        "channel": base["channel"],
    }
    # ``transfers`` is kept sorted by time; a transfer at exactly ``t`` has already happened.
    for at, to_agency, to_service in transfers:
        if at > t:
            break
        if to_agency is not None:
            holder["agency"] = to_agency
        if to_service is not None:
            holder["service"] = to_service
    return holder


def apply_interaction(
    case: Case | None, event: InteractionEvent, repeat_days: int
) -> tuple[Case, list[Observation]]:
    """Apply one interaction event to its case; called for every event on the interaction
    topic, in arrival order, with the stored state for ``event.case_id`` (None if new).

    Returns the new state (the input is not modified) and the observations that became
    known. ``repeat_days`` is accepted for symmetry with ``apply_contact``, which the caller
    runs for the ``opened`` event when this call accepted it (``event_id`` was new).
    """
    del repeat_days  # repeat contacts need the customer index, see apply_contact
    state = _copy(case) if case is not None else new_case(event.case_id)
    if state["case_id"] != event.case_id:
        raise ValueError(f"event for case {event.case_id!r} applied to case {state['case_id']!r}")
    if event.event_id in state["event_ids"]:
        return (case if case is not None else state), []
    state["event_ids"] = [*state["event_ids"], event.event_id][-MAX_EVENT_IDS:]
    if state["origin"] is None:
        state["origin"] = _group(event)
    _record(state, event)
    observations = _newly_observable(state)
    state["emitted"] = [*state["emitted"], *(obs.standard for obs in observations)]
    current = holder_at(state, math.inf)
    if current is not None:
        state["agency"], state["service"] = current["agency"], current["service"]
        state["channel"] = current["channel"]
    return state, observations


def _copy(case: Case) -> Case:
    # Shallow copy is enough: nested values are replaced, never mutated in place.
    return case.copy()


def _record(state: Case, event: InteractionEvent) -> None:
    t = event.occurred_at_epoch
    kind = event.kind
    nothing_emitted = not state["emitted"]
    if kind == InteractionKind.OPENED:
        # A second opened for the case is a producer fault; an earlier one may still replace
        # the first as long as no duration has been measured from it.
        if state["opened"] is None or (t < state["opened"]["at"] and nothing_emitted):
            group = _group(event)
            state["opened"] = {"at": t, "agency": group["agency"], "service": group["service"],
                               "channel": group["channel"]}  # fmt: skip
    elif kind == InteractionKind.FIRST_RESPONSE:
        first = state["first_response_at"]
        if first is None or (t < first and "time_to_first_response" not in state["emitted"]):
            state["first_response_at"] = t
    elif kind == InteractionKind.TRANSFERRED:
        transfers = [*state["transfers"], [t, event.to_agency, event.to_service]]
        state["transfers"] = sorted(transfers, key=lambda transfer: transfer[0])
    elif kind == InteractionKind.ESCALATED:
        state["escalations"] += 1
    elif kind == InteractionKind.REOPENED:
        state["reopens"] += 1
        last = state["last_reopened_at"]
        state["last_reopened_at"] = t if last is None else max(last, t)
    if kind == InteractionKind.SELF_SERVICE_COMPLETED:
        state["self_service"] = True
    if kind in CLOSING_KINDS:
        if state["closed"] is None:
            state["closed"] = {"at": t, "kind": str(kind)}
        last = state["last_closed_at"]
        state["last_closed_at"] = t if last is None else max(last, t)


def _newly_observable(state: Case) -> list[Observation]:
    opened = state["opened"]
    if opened is None:
        # Every per-case standard needs the opening time or the opening group.
        return []
    emitted = set(state["emitted"])
    found: list[Observation] = []

    def observe(group: Group, standard: str, at: float, value: float) -> None:
        if standard not in emitted:
            agency, service, channel = group["agency"], group["service"], group["channel"]
            found.append(Observation(agency, service, channel, standard, at, value))

    first = state["first_response_at"]
    if first is not None:
        # Producer clocks can disagree by a little; a response is never before its case.
        holder = _holder(opened, state["transfers"], first)
        observe(holder, "time_to_first_response", first, max(0.0, first - opened["at"]))
    closed = state["closed"]
    if closed is not None:
        at = closed["at"]
        holder = _holder(opened, state["transfers"], at)
        if closed["kind"] in RESOLVING_KINDS:
            observe(holder, "time_to_resolution", at, max(0.0, at - opened["at"]))
        abandoned = closed["kind"] == InteractionKind.ABANDONED
        observe(holder, "abandonment_rate", at, 1.0 if abandoned else 0.0)
        observe(holder, "self_service_share", at, 1.0 if state["self_service"] else 0.0)
        observe(opened, "transfer_rate", at, 1.0 if state["transfers"] else 0.0)
    return found


def open_case_age(case: Case, now: float) -> float | None:
    """Seconds since the case opened if it is open at ``now``; None if closed or the opened
    event is not known yet. Called when reporting the open-case backlog."""
    opened = case["opened"]
    if opened is None:
        return None
    last_closed = case["last_closed_at"]
    last_reopened = case["last_reopened_at"]
    if last_closed is not None and (last_reopened is None or last_reopened <= last_closed):
        return None
    return max(0.0, now - float(opened["at"]))


DURATION_STANDARDS = ("time_to_first_response", "time_to_resolution")


def awaited_standards(case: Case, now: float) -> tuple[float, tuple[str, ...]] | None:
    """Age of an open case at ``now`` and the duration standards still waiting on it (no
    first response yet; not resolved), or None if the case is closed or its opening unknown.

    Duration standards are observed only when the measured thing happens, so a case nobody
    answers is visible only here; called when reporting the open-case backlog."""
    age = open_case_age(case, now)
    if age is None:
        return None
    if case["first_response_at"] is None:
        return age, DURATION_STANDARDS
    return age, ("time_to_resolution",)


def apply_contact(
    history: History | None,
    customer_ref: str,
    service: str,
    opened_at: float,
    repeat_days: int,
    *,
    agency: str,
    channel: str,
    case_id: str | None = None,
) -> tuple[History, Observation | None]:
    """Record that ``customer_ref`` opened a case; called once per newly applied ``opened``
    event that carries a ``customer_ref``, with that customer's stored history (None if new).

    Yields one ``repeat_contact_rate`` observation for the opening group: a hit if the same
    customer opened the same agency's same service within ``repeat_days`` days before (at or
    before ``opened_at``). A case already in the history (same ``case_id``) yields nothing.
    Contacts arriving out of order are judged on what has arrived so far.
    """
    state: History = (
        {"customer_ref": customer_ref, "contacts": []} if history is None else history.copy()
    )
    if state["customer_ref"] != customer_ref:
        raise ValueError(f"contact for {customer_ref!r} applied to {state['customer_ref']!r}")
    contacts: list[list[Any]] = state["contacts"]
    same_service = [entry for entry in contacts if entry[1] == agency and entry[2] == service]
    if case_id is not None and any(entry[3] == case_id for entry in same_service):
        return (history if history is not None else state), None
    window = repeat_days * SECONDS_PER_DAY
    repeat = any(opened_at - window <= entry[0] <= opened_at for entry in same_service)
    newest = max([opened_at, *(entry[0] for entry in same_service)])
    # Forget this service's contacts too old to make any later contact a repeat.
    kept = [
        entry
        for entry in contacts
        if not (entry[1] == agency and entry[2] == service and entry[0] < newest - window)
    ]
    kept.append([opened_at, agency, service, case_id])
    state["contacts"] = sorted(kept, key=lambda entry: entry[0])[-MAX_CONTACTS:]
    observation = Observation(
        agency, service, str(channel), "repeat_contact_rate", opened_at, 1.0 if repeat else 0.0
    )
    return state, observation


def feedback_observations(event: FeedbackEvent, sentiment_label: str | None) -> list[Observation]:
    """Rate observations from one feedback event; called once per accepted feedback event.

    csat and each answered A-11 driver (standard named after the driver) are hits when scored
    4–5; negative_sentiment_share is observed only when a comment was scored
    (``sentiment_label`` not None) and is a hit when the label is ``negative``.
    """
    at = event.occurred_at_epoch
    group = (event.agency, event.service, str(event.channel))
    found: list[Observation] = []
    if event.csat is not None:
        found.append(Observation(*group, "csat", at, 1.0 if event.csat >= GOOD_SCORE else 0.0))
    if event.drivers is not None:
        for name, score in event.drivers.answered().items():
            found.append(Observation(*group, name, at, 1.0 if score >= GOOD_SCORE else 0.0))
    if sentiment_label is not None:
        hit = 1.0 if sentiment_label == "negative" else 0.0
        found.append(Observation(*group, "negative_sentiment_share", at, hit))
    return found
