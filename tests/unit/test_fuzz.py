"""Property-based fuzzing (hypothesis) of decoding and of the record handlers behind it.

The property everywhere: no input makes a pure function raise or run away. A record value is an
event or a rejection whose dead letter can be written and satisfies its schema; a decoded event
goes through case correlation, journeys, feedback observations and the window engine without
an exception, and every observation stays finite and within the event-time bounds.

Schema-shaped documents come from the published contract itself (hypothesis-jsonschema), so a
publisher's valid-looking event is fuzzed as well as arbitrary bytes and arbitrary JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from servicepulse.processors.cases import (
    apply_contact,
    apply_interaction,
    feedback_observations,
)
from servicepulse.processors.decoding import (
    EARLIEST_EVENT_TIME,
    LATEST_EVENT_TIME,
    EventTimeBounds,
    Rejection,
    decode_event,
)
from servicepulse.processors.journeys import RunAroundRules, apply_journey_event
from servicepulse.processors.records import SourcePosition, dead_letter, dumps, rfc3339
from servicepulse.processors.standards import load_standards
from servicepulse.processors.window_engine import WindowEngine
from servicepulse.schemas import contract
from servicepulse.schemas.models import (
    FEEDBACK_TYPE,
    INTERACTION_TYPE,
    FeedbackEvent,
    InteractionEvent,
)
from servicepulse.streams import topology
from servicepulse.streams.settings import DEFAULT_STANDARDS_FILE

NOW = 1_793_606_400.0  # 2026-11-02T08:00:00Z, the worker's clock in these tests
BOUNDS = EventTimeBounds(NOW)
POSITION = SourcePosition("feedback.events", 0, 7)
DEADLETTER = contract.validator("deadletter.v1")
FUZZ = settings(
    max_examples=100, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)  # fmt: skip
TYPES = st.sampled_from([FEEDBACK_TYPE, INTERACTION_TYPE])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _dereferenced(name: str) -> dict[str, Any]:
    """Schema ``name`` with every $ref replaced by its target (hypothesis-jsonschema does not
    follow references to other files, and the contract's schemas share definitions)."""

    def resolve(node: Any, document: dict[str, Any]) -> Any:
        if isinstance(node, list):
            return [resolve(item, document) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            where, _, pointer = node["$ref"].partition("#")
            target = contract.load_schema(where.rsplit("/", 1)[-1]) if where else document
            found: Any = target
            for part in filter(None, pointer.split("/")):
                found = found[part]
            rest = {k: v for k, v in node.items() if k not in ("$ref", "description")}
            # Beside a $ref, keywords add constraints (2020-12): both must hold.
            resolved = resolve(found, target)
            return {"allOf": [resolved, resolve(rest, document)]} if rest else resolved
        return {key: resolve(value, document) for key, value in node.items() if key != "$defs"}

    schema = contract.load_schema(name)
    return {**resolve(schema, schema), "$schema": schema["$schema"]}


feedback_documents = from_schema(_dereferenced("feedback.v1"))
interaction_documents = from_schema(_dereferenced("interaction.v1"))
# Event times around the worker's clock: inside the bounds, and on both sides of them.
event_times = st.floats(NOW - 500 * 86_400, NOW + 7_200, allow_nan=False)


def _decoded_or_rejected(raw: bytes, event_type: str) -> FeedbackEvent | InteractionEvent | None:
    """Decodes ``raw``; a rejection must make a valid, writable dead letter."""
    result = decode_event(raw, event_type, time_bounds=BOUNDS)
    if isinstance(result, Rejection):
        assert result.reason
        letter = json.loads(dumps(dead_letter(raw, b"k", result, POSITION, event_type, NOW)))
        assert [e.message for e in DEADLETTER.iter_errors(letter)] == []
        return None
    assert BOUNDS.rejection(result.occurred_at_epoch) is None
    return result


@FUZZ
@given(raw=st.binary(max_size=2048), event_type=TYPES)
def test_any_bytes_decode_to_an_event_or_a_writable_dead_letter(
    raw: bytes, event_type: str
) -> None:
    _decoded_or_rejected(raw, event_type)


@FUZZ
@given(document=json_values, event_type=TYPES, ascii_only=st.booleans())
def test_any_json_decodes_to_an_event_or_a_writable_dead_letter(
    document: Any, event_type: str, ascii_only: bool
) -> None:
    raw = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    _decoded_or_rejected(raw, event_type)


@FUZZ
@given(
    document=feedback_documents | interaction_documents,
    event_type=TYPES,
    envelope=st.booleans(),
    content_type=st.sampled_from([None, "application/json", "application/xml", "text/csv"]),
)
def test_schema_shaped_documents_bare_or_in_a_cloudevent(
    document: dict[str, Any], event_type: str, envelope: bool, content_type: str | None
) -> None:
    if envelope:
        document = {"specversion": "1.0", "id": "x", "source": "/fuzz", "type": event_type,
                    "data": document}  # fmt: skip
        if content_type is not None:
            document["datacontenttype"] = content_type
    _decoded_or_rejected(json.dumps(document).encode(), event_type)


@st.composite
def case_histories(draw: st.DrawFn) -> list[InteractionEvent]:
    """Interactions of one case (and one customer), schema-shaped, in any order and timing."""
    events = []
    for document in draw(st.lists(interaction_documents, min_size=1, max_size=8)):
        document = {**document, "case_id": "case-1", "customer_ref": "p-1",
                    "occurred_at": rfc3339(draw(event_times))}  # fmt: skip
        event = decode_event(json.dumps(document).encode(), INTERACTION_TYPE, time_bounds=BOUNDS)
        if isinstance(event, InteractionEvent):
            events.append(event)
    return events


@pytest.fixture(scope="module")
def engine() -> WindowEngine:
    return WindowEngine(load_standards(DEFAULT_STANDARDS_FILE))


def _bounded(at: float, value: float) -> None:
    assert EARLIEST_EVENT_TIME <= at <= LATEST_EVENT_TIME
    assert math.isfinite(value)


@FUZZ
@given(history=case_histories())
def test_case_journey_and_window_handlers_accept_any_valid_history(
    engine: WindowEngine, history: list[InteractionEvent]
) -> None:
    case, journey, contacts, store = None, None, None, {}
    rules = RunAroundRules()
    for offset, event in enumerate(history):
        case, observations = apply_interaction(case, event, 30)
        journey, _ = apply_journey_event(journey, event, rules)
        if event.kind.value == "opened":
            contacts, repeat = apply_contact(
                contacts, "p-1", event.service, event.occurred_at_epoch, 30,
                agency=event.agency, channel=event.channel.value, case_id=event.case_id,
            )  # fmt: skip
            observations = [*observations, *([repeat] if repeat is not None else [])]
        for observation in observations:
            _bounded(observation.at, observation.value)
            engine.commit(store, engine.apply(store, observation, offset))
    # Whatever the history, the state written restores: it fits its table's shape check.
    customer = {"journey": journey, "contacts": contacts, "p": 0}
    rows = [(topology.CUSTOMERS, "p-1", customer), *((topology.WINDOW_PANES, key, value)
            for key, value in store.items())]  # fmt: skip
    if case is not None:
        rows.append((topology.CASES, "case-1", {**case, "p": 0}))
    for table, key, value in rows:
        assert table.shape(key, json.loads(dumps(value))) is None, (table.name, key, value)


@FUZZ
@given(document=feedback_documents, at=event_times, label=st.sampled_from([None, "negative"]))
def test_feedback_handlers_accept_any_valid_event(
    engine: WindowEngine, document: dict[str, Any], at: float, label: str | None
) -> None:
    document = {**document, "occurred_at": rfc3339(at), "customer_ref": "p-2"}
    event = decode_event(json.dumps(document).encode(), FEEDBACK_TYPE, time_bounds=BOUNDS)
    if not isinstance(event, FeedbackEvent):
        return
    apply_journey_event(None, event, RunAroundRules())
    store: dict[str, Any] = {}
    for offset, observation in enumerate(feedback_observations(event, label)):
        _bounded(observation.at, observation.value)
        engine.commit(store, engine.apply(store, observation, offset))
