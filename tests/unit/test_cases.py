"""Case correlation: out-of-order, redelivered and transferred cases, repeat contacts, feedback."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

from servicepulse.processors.cases import (
    Case,
    History,
    Observation,
    apply_contact,
    apply_interaction,
    awaited_standards,
    feedback_observations,
    holder_at,
    new_case,
    open_case_age,
)
from servicepulse.schemas.models import (
    Channel,
    Drivers,
    FeedbackEvent,
    InteractionEvent,
    InteractionKind,
)
from tests.unit.events import T0, interaction, stamp

DAY = 86_400


def at(minutes: float) -> str:
    return stamp(timedelta(minutes=minutes))


def ev(kind: InteractionKind, minutes: float, **fields: Any) -> InteractionEvent:
    return interaction(kind, timedelta(minutes=minutes), **fields)


def run(events: list[InteractionEvent]) -> tuple[Case | None, list[Observation]]:
    case: Case | None = None
    seen: list[Observation] = []
    for event in events:
        case, found = apply_interaction(case, event, 30)
        seen += found
    return case, seen


def by_standard(observations: list[Observation]) -> dict[str, Observation]:
    result = {obs.standard: obs for obs in observations}
    assert len(result) == len(observations), "a standard was observed twice"
    return result


def test_simple_lifecycle() -> None:
    opened = ev(InteractionKind.OPENED, 0)
    first = ev(InteractionKind.FIRST_RESPONSE, 30)
    resolved = ev(InteractionKind.RESOLVED, 120)
    case, found = apply_interaction(None, opened, 30)
    assert found == []
    case, found = apply_interaction(case, first, 30)
    assert found == [
        Observation("ssa", "retirement", "phone", "time_to_first_response", T0 + 1800, 1800.0)
    ]
    case, found = apply_interaction(case, resolved, 30)
    got = by_standard(found)
    assert got["time_to_resolution"] == Observation(
        "ssa", "retirement", "phone", "time_to_resolution", T0 + 7200, 7200.0
    )
    assert got["abandonment_rate"].value == 0.0
    assert got["transfer_rate"].value == 0.0
    assert got["self_service_share"].value == 0.0
    assert all(obs.at == T0 + 7200 for obs in found)
    assert json.loads(json.dumps(case)) == case
    assert open_case_age(case, T0 + 99_999) is None


def test_first_response_before_opened_is_observed_when_opened_arrives() -> None:
    case, found = apply_interaction(None, ev(InteractionKind.FIRST_RESPONSE, 45), 30)
    assert found == []
    assert case["first_response_at"] == T0 + 2700
    case, found = apply_interaction(case, ev(InteractionKind.OPENED, 0), 30)
    assert found == [
        Observation("ssa", "retirement", "phone", "time_to_first_response", T0 + 2700, 2700.0)
    ]


def test_any_arrival_order_gives_the_same_observations() -> None:
    events = [
        ev(InteractionKind.OPENED, 0),
        ev(InteractionKind.FIRST_RESPONSE, 10),
        ev(InteractionKind.TRANSFERRED, 20, to_agency="irs", to_service="refunds"),
        ev(InteractionKind.RESOLVED, 60, agency="irs", service="refunds"),
    ]
    _, reference = run(events)
    reference_set = set(reference)
    assert len(reference_set) == 5
    transfer, resolved = events[2], events[3]
    for order in itertools.permutations(events):
        if order.index(transfer) > order.index(resolved):
            continue  # observations are never retracted; see the next test
        _, found = run(list(order))
        assert set(found) == reference_set, [event.kind for event in order]


def test_transfer_delivered_after_the_closure_changes_no_emitted_observation() -> None:
    case, found = run(
        [
            ev(InteractionKind.OPENED, 0),
            ev(InteractionKind.RESOLVED, 60, agency="irs"),
            ev(InteractionKind.TRANSFERRED, 20, to_agency="irs"),
        ]
    )
    got = by_standard(found)
    assert got["transfer_rate"].value == 0.0 and got["time_to_resolution"].agency == "ssa"
    assert case is not None and case["agency"] == "irs"  # the state itself is corrected


def test_redelivery_changes_nothing() -> None:
    opened = ev(InteractionKind.OPENED, 0, event_id="open-1")
    first = ev(InteractionKind.FIRST_RESPONSE, 5, event_id="fr-1")
    case, _ = apply_interaction(None, opened, 30)
    case, found = apply_interaction(case, first, 30)
    assert len(found) == 1
    again, found = apply_interaction(case, first, 30)
    assert found == [] and again == case
    again, found = apply_interaction(again, opened, 30)
    assert found == [] and again == case


def test_input_state_is_not_modified() -> None:
    case, _ = apply_interaction(None, ev(InteractionKind.OPENED, 0), 30)
    snapshot = json.loads(json.dumps(case))
    apply_interaction(case, ev(InteractionKind.TRANSFERRED, 5, to_agency="va"), 30)
    apply_interaction(case, ev(InteractionKind.RESOLVED, 9), 30)
    assert case == snapshot


def test_cross_agency_transfer_attribution() -> None:
    case, found = run(
        [
            ev(InteractionKind.OPENED, 0, channel=Channel.WEB),
            ev(InteractionKind.TRANSFERRED, 10, to_agency="irs", to_service="refunds"),
            ev(InteractionKind.FIRST_RESPONSE, 30, agency="irs", service="refunds"),
            ev(InteractionKind.RESOLVED, 90, agency="irs", service="refunds"),
        ]
    )
    got = by_standard(found)
    holder = ("irs", "refunds", "web")  # transfers keep the channel
    for name in ("time_to_first_response", "time_to_resolution", "abandonment_rate"):
        assert (got[name].agency, got[name].service, got[name].channel) == holder
    assert got["time_to_first_response"].value == 1800  # measured from the original opening
    # transfer_rate belongs to the agency that opened the case.
    transfer = got["transfer_rate"]
    assert (transfer.agency, transfer.service, transfer.channel, transfer.value) == (
        "ssa",
        "retirement",
        "web",
        1.0,
    )
    assert case is not None
    assert (case["agency"], case["service"], case["transfers"][0][1]) == ("irs", "refunds", "irs")


def test_late_arriving_transfer_still_places_a_later_completion() -> None:
    # The transfer happened before the first response but is delivered after the opening only.
    case, found = run(
        [
            ev(InteractionKind.OPENED, 0),
            ev(InteractionKind.TRANSFERRED, 10, to_agency="va"),
            ev(InteractionKind.FIRST_RESPONSE, 5),
        ]
    )
    assert found[0].agency == "ssa"  # first response at 5 min: before the transfer at 10
    assert case is not None
    phone = {"service": "retirement", "channel": "phone"}
    assert holder_at(case, T0 + 600) == {"agency": "va", **phone}
    assert holder_at(case, T0 + 599) == {"agency": "ssa", **phone}


def test_transfer_to_service_within_agency() -> None:
    _, found = run(
        [
            ev(InteractionKind.OPENED, 0),
            ev(InteractionKind.TRANSFERRED, 1, to_service="disability"),
            ev(InteractionKind.ABANDONED, 3),
        ]
    )
    got = by_standard(found)
    assert (got["abandonment_rate"].service, got["abandonment_rate"].value) == ("disability", 1.0)
    assert "time_to_resolution" not in got  # an abandoned case was not resolved
    assert got["transfer_rate"].service == "retirement"


def test_self_service_completion_closes_the_case() -> None:
    _, found = run(
        [
            ev(InteractionKind.OPENED, 0, channel=Channel.WEB),
            ev(InteractionKind.SELF_SERVICE_COMPLETED, 4, channel=Channel.WEB),
            ev(InteractionKind.RESOLVED, 5, channel=Channel.WEB),  # a second close adds nothing
        ]
    )
    got = by_standard(found)
    assert got["self_service_share"].value == 1.0
    assert got["time_to_resolution"].value == 240
    assert got["abandonment_rate"].value == 0.0


def test_closure_before_opened_waits_for_opened() -> None:
    case, found = apply_interaction(None, ev(InteractionKind.RESOLVED, 50), 30)
    assert found == []
    assert open_case_age(case, T0 + 9999) is None  # opening unknown
    case, found = apply_interaction(case, ev(InteractionKind.OPENED, 0), 30)
    assert by_standard(found)["time_to_resolution"].value == 3000


def test_response_clock_skew_never_negative() -> None:
    _, found = run([ev(InteractionKind.FIRST_RESPONSE, 0), ev(InteractionKind.OPENED, 1)])
    assert found[0].value == 0.0


def test_open_case_age_and_reopen() -> None:
    case, _ = apply_interaction(None, ev(InteractionKind.OPENED, 0), 30)
    assert open_case_age(case, T0 + 100) == 100
    case, _ = apply_interaction(case, ev(InteractionKind.RESOLVED, 10), 30)
    assert open_case_age(case, T0 + 1000) is None
    case, found = apply_interaction(case, ev(InteractionKind.REOPENED, 20), 30)
    assert found == []
    assert open_case_age(case, T0 + 1500) == 1500
    case, found = apply_interaction(case, ev(InteractionKind.RESOLVED, 30), 30)
    assert found == []  # per-case standards are observed once
    assert open_case_age(case, T0 + 2000) is None
    assert case["reopens"] == 1


def contact(
    history: History | None,
    service: str,
    opened_at: float,
    case_id: str,
    *,
    agency: str = "ssa",
    channel: str = "web",
) -> tuple[History, Observation | None]:
    """Customer cust-1 opens a case; repeats are counted within 30 days."""
    return apply_contact(
        history, "cust-1", service, opened_at, 30,
        agency=agency, channel=channel, case_id=case_id,
    )  # fmt: skip


def test_repeat_contact_within_window() -> None:
    history, first = contact(None, "retirement", T0, "c1", channel="phone")
    assert first == Observation("ssa", "retirement", "phone", "repeat_contact_rate", T0, 0.0)
    history, second = contact(history, "retirement", T0 + 30 * DAY, "c2")
    assert second is not None and second.value == 1.0 and second.channel == "web"
    history, other_service = contact(history, "disability", T0 + 31 * DAY, "c3")
    assert other_service is not None and other_service.value == 0.0
    history, too_late = contact(history, "retirement", T0 + 61 * DAY, "c4")
    assert too_late is not None and too_late.value == 0.0
    assert json.loads(json.dumps(history)) == history


def test_repeat_contact_is_per_agency_and_ignores_the_same_case() -> None:
    history, _ = contact(None, "benefits", T0, "c1", agency="va", channel="phone")
    unchanged, again = contact(history, "benefits", T0, "c1", agency="va", channel="phone")
    assert again is None and unchanged == history
    _, elsewhere = contact(history, "benefits", T0 + 60, "c2", channel="phone")
    assert elsewhere is not None and elsewhere.value == 0.0


def test_repeat_contact_history_forgets_old_contacts() -> None:
    history: History | None = None
    for day in range(0, 400, 20):
        history, _ = contact(history, "retirement", T0 + day * DAY, f"c{day}")
    assert history is not None
    assert len(history["contacts"]) <= 3


def feedback(**fields: Any) -> FeedbackEvent:
    base: dict[str, Any] = {
        "event_id": "f1",
        "occurred_at": at(0),
        "agency": "ssa",
        "service": "retirement",
        "channel": Channel.WEB,
    }
    return FeedbackEvent(**{**base, **fields})


def test_feedback_observations() -> None:
    event = feedback(csat=4, drivers=Drivers(trust=3, ease=5), comment="slow and rude")
    got = by_standard(feedback_observations(event, "negative"))
    assert got["csat"] == Observation("ssa", "retirement", "web", "csat", T0, 1.0)
    assert got["trust"].value == 0.0
    assert got["ease"].value == 1.0
    assert got["negative_sentiment_share"].value == 1.0
    assert set(got) == {"csat", "trust", "ease", "negative_sentiment_share"}


def test_feedback_score_boundary_and_unscored_comment() -> None:
    low = by_standard(feedback_observations(feedback(csat=3), None))
    assert low == {"csat": Observation("ssa", "retirement", "web", "csat", T0, 0.0)}
    neutral = feedback_observations(feedback(comment="ok"), "neutral")
    assert neutral == [Observation("ssa", "retirement", "web", "negative_sentiment_share", T0, 0.0)]
    assert feedback_observations(feedback(comment="   "), None) == []


def test_awaited_standards_of_an_unanswered_case() -> None:
    case = new_case("c-1")
    case["opened"] = {"at": 100.0, "agency": "ssa", "service": "retirement", "channel": "web"}
    both = ("time_to_first_response", "time_to_resolution")
    assert awaited_standards(case, 400.0) == (300.0, both)
    case["first_response_at"] = 200.0
    assert awaited_standards(case, 400.0) == (300.0, ("time_to_resolution",))
    case["last_closed_at"] = 350.0
    assert awaited_standards(case, 400.0) is None
