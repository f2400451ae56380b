"""The window engine's finals equal an independent batch recomputation of the same log."""

from __future__ import annotations

import math
from typing import Any

import pytest

from servicepulse.processors.aggregates import QUANTILES
from servicepulse.processors.cases import apply_contact, apply_interaction, feedback_observations
from servicepulse.processors.sentiment import score_comment
from servicepulse.processors.standards import StandardsConfig, load_standards
from servicepulse.processors.window_engine import WindowEngine
from servicepulse.schemas.models import FeedbackEvent, InteractionEvent, InteractionKind
from servicepulse.streams.settings import DEFAULT_STANDARDS_FILE
from tests import reference
from tests.eventlog import GROUPS, generate

WINDOWS = {"five_minutes": (300, 300), "one_hour": (3600, 300), "one_day": (86400, 3600)}
GRACE = 600.0
NOW = 1_900_000_000.0  # wall clock: constant, so no input ever goes idle


def reference_standards(config: StandardsConfig) -> dict[Any, dict[str, dict[str, Any]]]:
    groups = set(GROUPS) | {("irs", "refunds", g[2]) for g in GROUPS}
    groups |= {("ssa", "retirement", g[2]) for g in GROUPS}
    return {
        group: {
            name: {
                "kind": s.kind,
                "target": s.target,
                "objective": s.objective,
                "direction": s.direction,
                "minimum_sample": s.minimum_sample,
                "at_risk_margin": s.at_risk_margin,
            }
            for name, s in config.for_group(*group).items()
        }
        for group in groups
    }


def streaming_finals(log: list[tuple[str, dict[str, Any]]], config: StandardsConfig
                     ) -> dict[tuple[Any, ...], dict[str, Any]]:  # fmt: skip
    """The worker's logic without Kafka, one partition: cases → observations → engine, in
    log order, with a watermark record after each event (the source's latest event time
    less the allowed disorder)."""
    engine = WindowEngine(config, grace_s=GRACE)
    store: dict[str, Any] = {}
    cases: dict[str, Any] = {}
    contacts: dict[str, Any] = {}
    seen_feedback: set[str] = set()
    finals: dict[tuple[Any, ...], dict[str, Any]] = {}
    offset = 0
    latest = -math.inf
    for kind, document in log:
        found = []
        if kind == "feedback":
            event = FeedbackEvent.model_validate(document)
            latest = max(latest, event.occurred_at_epoch)
            if event.event_id not in seen_feedback:
                seen_feedback.add(event.event_id)
                sentiment = score_comment(event.comment)
                found = feedback_observations(event, sentiment.label if sentiment else None)
        else:
            interaction = InteractionEvent.model_validate(document)
            latest = max(latest, interaction.occurred_at_epoch)
            before = cases.get(interaction.case_id)
            cases[interaction.case_id], found = apply_interaction(before, interaction, 0)
            if cases[interaction.case_id] is not before and (
                interaction.kind == InteractionKind.OPENED and interaction.customer_ref
            ):
                ref = interaction.customer_ref
                contacts[ref], repeat = apply_contact(
                    contacts.get(ref), ref, interaction.service, interaction.occurred_at_epoch,
                    30, agency=interaction.agency, channel=interaction.channel.value,
                    case_id=interaction.case_id,
                )  # fmt: skip
                found = [*found, *([repeat] if repeat else [])]
        for obs in found:
            offset += 1
            engine.commit(store, engine.apply(store, obs, offset))
        advanced = engine.advance(store, 0, "upstream:0", latest - GRACE, False, NOW)
        engine.commit(store, advanced)
        for final in advanced.finals:
            key = (final["agency"], final["service"], final["channel"], final["standard"],
                   final["window"], reference.epoch(final["window_start"]))  # fmt: skip
            assert key not in finals, f"final emitted twice: {key}"
            finals[key] = final
    return finals


def batch_finals(
    log: list[tuple[str, dict[str, Any]]], config: StandardsConfig, grace: float
) -> dict[tuple[Any, ...], Any]:
    """The final windows recomputed at once from the whole log (also the integration test's)."""
    return reference.final_windows(
        reference.observations_from_log(log, repeat_days=30),
        reference_standards(config), WINDOWS, grace,
    )  # fmt: skip


def assert_equal_to_batch(streamed: dict[Any, Any], expected: dict[Any, Any]) -> None:
    """Streamed finals match the batch recomputation, key for key (also the integration test's)."""
    assert sorted(streamed) == sorted(expected)
    for key, want in expected.items():
        got = streamed[key]
        assert got["count"] == want["count"], key
        assert got["compliance"] == pytest.approx(want["compliance"]), key
        assert got["status"] == want["status"], key
        if got["kind"] == "duration":
            # DDSketch: within 1% relative error of the exact quantile.
            assert got["value"] == pytest.approx(want["value"], rel=0.01), key
        else:
            assert got["value"] == pytest.approx(want["value"]), key


@pytest.fixture(scope="module")
def config() -> StandardsConfig:
    return load_standards(DEFAULT_STANDARDS_FILE)


def test_engine_finals_equal_batch_recomputation(config: StandardsConfig) -> None:
    log = generate(cases=300)
    streamed = streaming_finals(log, config)
    expected = batch_finals(log, config, GRACE)
    assert len(expected) > 500
    assert {k[:-1] for k in streamed} >= {("ssa", "retirement", "phone", "csat", "one_day")}
    assert_equal_to_batch(streamed, expected)


def test_every_duration_quantile_is_within_one_percent(config: StandardsConfig) -> None:
    log = generate(cases=300, seed=5)
    finals = streaming_finals(log, config)
    kept, _ = reference.on_time(
        reference.observations_from_log(log, repeat_days=30),
        reference_standards(config),
        GRACE,
        WINDOWS,
    )
    checked = 0
    for (agency, service, channel, standard, window, start), final in finals.items():
        if final["kind"] != "duration":
            continue
        size = WINDOWS[window][0]
        values = [o.value for o in kept[((agency, service, channel), standard)]
                  if start <= o.at < start + size]  # fmt: skip
        for name, q in QUANTILES.items():
            assert final[name] == pytest.approx(reference.exact_quantile(values, q), rel=0.01)
            checked += 1
    assert checked > 100
