"""Customer journeys: cross-agency tracking, run-around rules, observations, expiry, message."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from servicepulse.processors.cases import Observation
from servicepulse.processors.journeys import (
    Journey,
    JourneyUpdate,
    RunAroundRules,
    apply_journey_event,
    journey_message,
    open_cases,
    run_around_observation,
)
from servicepulse.schemas.contract import validator
from servicepulse.schemas.models import Channel, FeedbackEvent, InteractionEvent, InteractionKind
from tests.unit.events import T0, ids, interaction, stamp

DAY = 86_400.0
RULES = RunAroundRules()
REF = "cust-1"

K = InteractionKind


def at(days: float) -> str:
    return stamp(timedelta(days=days))


def ev(kind: InteractionKind, days: float, case_id: str = "c1", **fields: Any) -> InteractionEvent:
    """An interaction of customer REF's journey, ``days`` after START."""
    return interaction(kind, timedelta(days=days), case_id=case_id, customer_ref=REF, **fields)


def feedback(days: float, **extra: Any) -> FeedbackEvent:
    return FeedbackEvent(
        event_id=f"f{next(ids)}",
        occurred_at=at(days),
        agency="irs",
        service="refunds",
        channel=Channel.WEB,
        customer_ref=REF,
        csat=2,
        **extra,
    )


def run(
    events: Sequence[InteractionEvent | FeedbackEvent], rules: RunAroundRules = RULES
) -> tuple[Journey, list[JourneyUpdate | None]]:
    state: Journey | None = None
    updates: list[JourneyUpdate | None] = []
    for event in events:
        state, update = apply_journey_event(state, event, rules)
        updates.append(update)
    assert state is not None
    return state, updates


def observations(updates: list[JourneyUpdate | None]) -> list[Observation]:
    return [obs for update in updates if update for obs in update.observations]


def test_tracks_contacts_agencies_services_and_times() -> None:
    state, _ = run(
        [
            ev(K.OPENED, 0),
            ev(K.TRANSFERRED, 0.1, to_agency="irs", to_service="refunds"),
            ev(K.OPENED, 2, "c2", agency="va", service="health", channel=Channel.WEB),
            ev(K.SELF_SERVICE_COMPLETED, 2.1, "c2", agency="va", service="health"),
            feedback(3),
        ]
    )
    assert state["contacts"] == 2
    assert state["agencies"] == ["ssa", "va", "irs"]
    assert ["irs", "refunds"] in state["services"] and ["va", "health"] in state["services"]
    assert state["transfers"] == 1
    assert state["self_service_completions"] == 1
    assert state["feedback_events"] == 1
    assert state["first_contact_at"] == T0
    assert state["last_event_at"] == T0 + 3 * DAY
    assert open_cases(state) == ["c1"]


def test_redelivery_changes_nothing() -> None:
    first = ev(K.OPENED, 0, event_id="same")
    state, _ = run([first])
    again, update = apply_journey_event(state, first, RULES)
    assert update is None
    assert again == state


def test_input_state_is_not_modified() -> None:
    state, _ = run([ev(K.OPENED, 0)])
    snapshot = {**state, "cases": {k: dict(v) for k, v in state["cases"].items()}}
    apply_journey_event(state, ev(K.RESOLVED, 1), RULES)
    assert state == snapshot


def test_three_transfers_in_a_case_is_run_around() -> None:
    events = [ev(K.OPENED, 0)] + [
        ev(K.TRANSFERRED, 0.1 * n, to_service=f"desk-{n}") for n in range(1, 4)
    ]
    state, updates = run(events)
    assert state["run_around"] and state["run_around_reasons"] == ["transfers_per_case"]
    assert [u.newly_run_around for u in updates if u] == [False, False, False, True]


def test_two_transfers_in_one_agency_are_not() -> None:
    state, _ = run(
        [ev(K.OPENED, 0), ev(K.TRANSFERRED, 0.1, to_service="a"), ev(K.TRANSFERRED, 0.2)]
    )
    assert not state["run_around"] and state["run_around_reasons"] == []


def test_need_followed_across_agencies() -> None:
    # Transfer to another agency: the need (retirement) now involves two agencies.
    state, _ = run([ev(K.OPENED, 0), ev(K.TRANSFERRED, 1, to_agency="irs")])
    assert state["run_around_reasons"] == ["agencies_per_need"]
    # Same need opened at two agencies in separate cases counts too.
    state, _ = run([ev(K.OPENED, 0), ev(K.OPENED, 5, "c2", agency="dol")])
    assert state["run_around_reasons"] == ["agencies_per_need"]
    # Different needs at different agencies do not.
    state, _ = run([ev(K.OPENED, 0), ev(K.OPENED, 5, "c2", agency="va", service="health")])
    assert not state["run_around"]


def test_repeat_contacts_within_the_window() -> None:
    state, _ = run([ev(K.OPENED, 0, "c1"), ev(K.OPENED, 10, "c2"), ev(K.OPENED, 29, "c3")])
    assert state["repeat_contacts"] == 2
    assert state["run_around_reasons"] == ["repeat_contacts"]
    spread, _ = run([ev(K.OPENED, 0, "c1"), ev(K.OPENED, 20, "c2"), ev(K.OPENED, 41, "c3")])
    assert spread["repeat_contacts"] == 2
    assert not spread["run_around"]  # never three inside one 30-day window


def test_rules_are_configurable() -> None:
    strict = RunAroundRules(max_transfers_per_case=1)
    state, _ = run([ev(K.OPENED, 0), ev(K.TRANSFERRED, 0.1)], strict)
    assert state["run_around_reasons"] == ["transfers_per_case"]


def test_run_around_observation_when_the_case_closes() -> None:
    events = [ev(K.OPENED, 0, channel=Channel.CHAT)]
    events += [ev(K.TRANSFERRED, 0.1 * n, to_agency="irs") for n in range(1, 4)]
    events += [ev(K.RESOLVED, 1, agency="irs")]
    state, updates = run(events)
    found = observations(updates)
    assert found == [Observation("ssa", "retirement", "chat", "run_around_rate", T0 + DAY, 1.0)]
    # A second close (after a reopen) does not observe the case again.
    _, update = apply_journey_event(state, ev(K.RESOLVED, 2), RULES)
    assert update is not None and update.observations == ()


def test_clean_case_observes_zero() -> None:
    _, updates = run([ev(K.OPENED, 0), ev(K.ABANDONED, 0.5)])
    assert [o.value for o in observations(updates)] == [0.0]


def test_close_before_open_is_observed_when_the_opening_arrives() -> None:
    state, updates = run([ev(K.RESOLVED, 1), ev(K.OPENED, 0, agency="va", service="health")])
    assert next(u.observations for u in updates if u) == ()
    found = observations(updates)
    assert len(found) == 1 and found[0].agency == "va" and found[0].at == T0 + DAY
    assert run_around_observation(state, "c1", RULES) == found[0]
    assert open_cases(state) == []


def test_case_level_attribution_ignores_other_needs() -> None:
    # The journey is run-around because of c1's need, but c2 (a different need) is clean.
    events = [ev(K.OPENED, 0), ev(K.TRANSFERRED, 0.1, to_agency="irs")]
    events += [ev(K.OPENED, 1, "c2", agency="va", service="health"),
               ev(K.RESOLVED, 2, "c2", agency="va", service="health")]  # fmt: skip
    state, updates = run(events)
    assert state["run_around"]
    assert [(o.agency, o.value) for o in observations(updates)] == [("va", 0.0)]


def test_feedback_without_customer_ref_is_refused() -> None:
    event = FeedbackEvent(
        event_id="x", occurred_at=at(0), agency="ssa", service="s", channel=Channel.WEB, csat=5
    )
    with pytest.raises(ValueError):
        apply_journey_event(None, event, RULES)


def test_state_is_bounded() -> None:
    events = [ev(K.OPENED, n / 1000, f"c{n}", service=f"s{n % 300}") for n in range(400)]
    state, _ = run(events)
    assert len(state["cases"]) <= 100
    assert len(state["event_ids"]) <= 300
    assert len(state["services"]) <= 100
    assert len(state["openings"]) <= 200


def test_journey_message_matches_the_schema_and_has_no_pii() -> None:
    events: list[InteractionEvent | FeedbackEvent] = [
        ev(K.OPENED, 0),
        ev(K.TRANSFERRED, 0.1, to_agency="irs", to_service="refunds"),
        feedback(1, comment="call me at 202-555-0143"),
    ]
    state, _ = run(events)
    message = journey_message(REF, state, T0 + 2 * DAY)
    validator("customer-journey.v1").validate(message)
    assert message["as_of"] == "2026-05-03T09:00:00Z"
    assert message["run_around_reasons"] == ["agencies_per_need"]
    assert message["open_cases"] == ["c1"]
    assert "202-555-0143" not in str(message)
    with pytest.raises(ValueError):
        journey_message("jane@example.com", state, T0)


def test_empty_journey_message_is_refused() -> None:
    from servicepulse.processors.journeys import new_journey

    with pytest.raises(ValueError):
        journey_message(REF, new_journey(REF), T0)
