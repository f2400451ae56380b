"""Every topic the worker reads, fed generated garbage: each record is dead-lettered with the
category it deserves, no agent crashes, and the next good events reach every agent.

Issue 12's poison list, per topic (hypothesis draws the records): on an input topic random
bytes, arbitrary JSON, bad event times, duplicate JSON keys, CloudEvents with a content type
that is not JSON, and a value over the size limit; on an internal topic random bytes,
arbitrary JSON, records of a type the topic does not carry, broken records of a type it does
(fields missing or replaced, event times out of range, group fields or window times we never
write), and a value of 1.5 MiB. Each topic's
records go out in one batch before anything good, and the draw is derandomized: every run
feeds the same records. An input record's category is the pure decoder's verdict, checked
against what its kind must give (a duplicate key: malformed_json, …); every internal one is an
internal_error.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from servicepulse.devtools.broker import EmbeddedBroker
from servicepulse.devtools.generator import SIMULATED_TIME_ENV
from servicepulse.processors import envelope
from servicepulse.processors.cases import Observation
from servicepulse.processors.decoding import (
    EARLIEST_EVENT_TIME,
    LATEST_EVENT_TIME,
    RejectCategory,
    Rejection,
    decode_event,
)
from servicepulse.processors.envelope import (
    EventRecord,
    RecordType,
    WatermarkRecord,
    WindowFinalRecord,
)
from servicepulse.processors.records import SourcePosition
from servicepulse.processors.watermarks import Watermark
from servicepulse.schemas.models import FEEDBACK_TYPE, INTERACTION_TYPE
from servicepulse.streams import topology
from servicepulse.streams.settings import Settings
from tests.integration.support import WorkerProcess, consume, produce
from tests.integration.test_internal_errors import good_records_reach_every_agent
from tests.integration.test_windows_flow import isolated_settings
from tests.unit.test_fuzz import json_values

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PER_TOPIC = 40
READ = [spec for spec in topology.TOPICS if spec.role != "output"]
INTERNAL_ERROR = RejectCategory.INTERNAL_ERROR.value
# Inputs are capped at SERVICEPULSE_MAX_EVENT_BYTES (64 KiB); internal records are not, and a
# dead letter keeps the first 1 MiB of a larger value.
INPUT_HUGE, INTERNAL_HUGE = 100 * 1024, 1536 * 1024

GOOD: dict[str, dict[str, Any]] = {
    FEEDBACK_TYPE: {"event_id": "fz-1", "occurred_at": "2026-11-02T08:00:00Z", "agency": "va",
                    "service": "benefits", "channel": "web", "csat": 4, "comment": "fine"},
    INTERACTION_TYPE: {"event_id": "fz-2", "occurred_at": "2026-11-02T08:00:00Z",
                       "agency": "va", "service": "benefits", "channel": "web",
                       "case_id": "fz-case", "kind": "opened"},
}  # fmt: skip
# Far outside the ±100 years the test worker accepts (SIMULATED_TIME_ENV), or no time at all.
bad_times = st.one_of(
    st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "2200-01-01T00:00:00Z",
                     "1900-01-01T00:00:00Z", "2026-13-45T99:99:99Z", "yesterday", ""]),
    st.integers(1, 1899).map(lambda year: f"{year:04d}-06-15T12:00:00Z"),
    st.integers(2200, 9999).map(lambda year: f"{year:04d}-06-15T12:00:00-11:00"),
    st.text(max_size=30),
)  # fmt: skip
foreign_content_types = st.sampled_from(
    ["application/xml", "text/plain", "text/csv", "application/cloudevents+xml", "json"]
) | st.from_regex(r"[a-z]{1,12}/[a-z]{1,12}", fullmatch=True).filter(
    lambda media: media != "application/json"
)


def dumped(document: Any) -> bytes:
    return json.dumps(document).encode()


def input_garbage(event_type: str) -> st.SearchStrategy[tuple[str, bytes]]:
    good = GOOD[event_type]

    def duplicate_key(field: str) -> bytes:
        return dumped(good)[:-1] + f", {json.dumps(field)}: {json.dumps(good[field])}}}".encode()

    def cloudevent(content_type: str) -> bytes:
        return dumped({"specversion": "1.0", "id": "ce-1", "source": "urn:fuzz", "data": good,
                       "type": event_type, "datacontenttype": content_type})  # fmt: skip

    return st.one_of(
        st.tuples(st.just("bytes"), st.binary(max_size=300)),
        st.tuples(st.just("json"), json_values.map(dumped)),
        st.tuples(st.just("time"), bad_times.map(lambda t: dumped({**good, "occurred_at": t}))),
        st.tuples(st.just("duplicate"), st.sampled_from(sorted(good)).map(duplicate_key)),
        st.tuples(st.just("content_type"), foreign_content_types.map(cloudevent)),
    )


# What an input record of each kind must be dead-lettered as (None: whatever the decoder
# says, short of an internal error).
KIND_CATEGORIES: dict[str, set[str] | None] = {
    "bytes": None, "json": None, "huge": {"oversize"}, "duplicate": {"malformed_json"},
    "time": {"event_time_out_of_range", "schema_violation"},
    "content_type": {"unsupported_content_type"},
}  # fmt: skip


def internal_examples() -> dict[RecordType, bytes]:
    """One record servicepulse writes, of each internal type."""
    position = SourcePosition("fuzz", 0, 1)
    events = {}
    for record_type, event_type in ((RecordType.FEEDBACK, FEEDBACK_TYPE),
                                    (RecordType.INTERACTION, INTERACTION_TYPE)):  # fmt: skip
        event = decode_event(dumped(GOOD[event_type]), event_type)
        assert not isinstance(event, Rejection)
        events[record_type] = envelope.encode(EventRecord(event, position, 0.0))
    observation = Observation("va", "benefits", "web", "csat", 1_793_606_400.0, 1.0)
    final = {"agency": "va", "service": "benefits", "channel": "web", "standard": "csat",
             "window": "one_day", "window_start": "2026-11-02T00:00:00.000Z",
             "window_end": "2026-11-03T00:00:00.000Z", "count": 3, "compliance": 1.0}  # fmt: skip
    return {
        **events,
        RecordType.EVENTS: envelope.encode_events(list(events.values())),
        RecordType.OBSERVATION: envelope.encode(envelope.observation(observation, "e", position)),
        RecordType.OBSERVATIONS: envelope.encode_observations(
            [envelope.encode(envelope.observation(observation, "e", position))]
        ),
        RecordType.WINDOW_FINAL: envelope.encode(WindowFinalRecord((final,))),
        # From a task no stage reads from: dead-lettered like any record not ours.
        RecordType.WATERMARK: envelope.encode(
            WatermarkRecord("fuzz:0", Watermark(1_793_606_400.0, idle=False))
        ),
    }


EVENT_TYPES = (RecordType.FEEDBACK, RecordType.INTERACTION)


def internal_garbage(spec: topology.Topic) -> st.SearchStrategy[tuple[str, bytes]]:
    examples = internal_examples()
    # An events record as the topic carries them: its own event types only.
    carried = [examples[t] for t in sorted(spec.accepts) if t in EVENT_TYPES]
    if carried:
        examples[RecordType.EVENTS] = envelope.encode_events(carried)
    foreign = sorted(t for t in RecordType if t not in spec.accepts)
    ours = [json.loads(examples[t]) for t in sorted(spec.accepts)]
    # Group fields are an event's or an observation's; a record of several's are its items'.
    with_group_fields = [
        record
        for record in ours
        if record["type"] not in (RecordType.WATERMARK, RecordType.EVENTS, RecordType.OBSERVATIONS)
    ]
    missing = object()

    @st.composite
    def broken(draw: st.DrawFn) -> bytes:
        """A record of a type the topic carries with one field gone or replaced (an event
        time or observation time out of range among the replacements)."""
        record = dict(draw(st.sampled_from(ours)))
        field = draw(st.sampled_from(sorted(set(record) - {"type"})))
        out_of_range = st.floats(allow_nan=False).filter(
            lambda at: not EARLIEST_EVENT_TIME <= at <= LATEST_EVENT_TIME
        )
        replacement = draw(st.one_of(st.just(missing), json_values, out_of_range))
        if field == "event" and draw(st.booleans()):
            record["event"] = {**record["event"], "occurred_at": draw(bad_times)}
        elif replacement is missing:
            del record[field]
        else:
            record[field] = replacement
        return dumped(record)

    @st.composite
    def odd_field(draw: st.DrawFn) -> bytes:
        """A record of a type the topic carries with a group field or window time we never
        write: these become "|"-joined table keys, or are compared as text."""
        record = json.loads(json.dumps(draw(st.sampled_from(with_group_fields))))
        finals = record.get("finals")  # a window_final record: its first final
        target = finals[0] if finals else record.get("event") or record
        field = draw(st.sampled_from([name for name in ODD_FIELDS if name in target]))
        target[field] = draw(odd_strings)
        return dumped(record)

    return st.one_of(
        st.tuples(st.just("bytes"), st.binary(max_size=300)),
        st.tuples(st.just("json"), json_values.map(dumped)),
        st.tuples(st.just("foreign_type"), st.sampled_from(foreign).map(examples.__getitem__)),
        st.tuples(st.just("broken"), broken().filter(lambda raw: unreadable(raw, spec))),
        st.tuples(st.just("odd_field"), odd_field()),
    )


ODD_FIELDS = ("agency", "service", "channel", "standard", "window_start", "window_end")
odd_strings = st.sampled_from(
    ["va|x", "", "VA", "x" * 80, "fax", "2026-11-03T00:00:00Z", "9999-01-01T00:00:00.000Z"]
) | st.text(max_size=12).map(lambda text: f"{text}|")


def unreadable(raw: bytes, spec: topology.Topic) -> bool:
    try:
        envelope.decode(raw, spec.accepts)
    except envelope.UnreadableRecord:
        return True
    return False


# (topic, partition, offset) -> (kind, dead-letter category)
Expected = dict[tuple[str, int, int], tuple[str, str]]


def generated(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` values hypothesis generates from ``strategy``, the same ones in every run
    (derandomized): its own exploration, from simple values to odd ones, without running the
    worker once per example."""
    found: list[Any] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found


def batches_for(settings: Settings, bounds_now: float) -> dict[str, list[tuple[str, bytes, str]]]:
    """(kind, value, expected category) for every topic the worker reads."""
    batches: dict[str, list[tuple[str, bytes, str]]] = {}
    bounds = settings.event_time_bounds(bounds_now)
    for spec in READ:
        name = spec.name(settings)
        if spec.role == "input":
            kinds = generated(input_garbage(spec.carries), PER_TOPIC - 1)
            kinds.append(("huge", dumped({**GOOD[spec.carries], "comment": "x" * INPUT_HUGE})))
            batch = []
            for kind, raw in kinds:
                verdict = decode_event(raw, spec.carries, settings.max_event_bytes, bounds)
                assert isinstance(verdict, Rejection), (kind, raw)
                allowed = KIND_CATEGORIES[kind]
                assert verdict.category != RejectCategory.INTERNAL_ERROR, (kind, raw)
                assert allowed is None or verdict.category.value in allowed, (kind, raw, verdict)
                batch.append((kind, raw, verdict.category.value))
        else:
            kinds = generated(internal_garbage(spec), PER_TOPIC - 1)
            kinds.append(("huge", b"[" + b"1," * (INTERNAL_HUGE // 2) + b"]"))
            for kind, raw in kinds:
                assert unreadable(raw, spec), (kind, raw)  # the codec refuses it
            batch = [(kind, raw, INTERNAL_ERROR) for kind, raw in kinds]
        batches[name] = batch
    return batches


async def publish_batches(
    settings: Settings, batches: dict[str, list[tuple[str, bytes, str]]]
) -> Expected:
    expected: Expected = {}
    for name, batch in batches.items():
        records = [(f"fuzz-{n}".encode(), raw) for n, (_, raw, _) in enumerate(batch)]
        positions = await produce(settings.kafka_bootstrap, name, records)
        for (partition, offset), (kind, _, category) in zip(positions, batch, strict=True):
            expected[(name, partition, offset)] = (kind, category)
    return expected


def agent_crashes(log: str) -> list[str]:
    """Log lines of an agent that stopped (Faust's service crash), or an ERROR that is not the
    guard's one line per dead-lettered record."""
    return [
        line for line in log.splitlines()
        if "Crashed reason" in line
        or ("[ERROR]" in line and "; dead-lettered as internal_error" not in line)
    ]  # fmt: skip


def test_garbage_on_every_topic_is_dead_lettered_by_category_and_every_agent_goes_on(
    broker: EmbeddedBroker, start_worker: Callable[..., WorkerProcess]
) -> None:
    test_settings, env = asyncio.run(isolated_settings(broker.bootstrap, "fuzz"))
    env["SERVICEPULSE_GRACE_SECONDS"] = "600"
    worker = start_worker(extra_env=env).start()
    # The worker's event-time bounds (SIMULATED_TIME_ENV), for the decoder's verdicts here.
    bounded = test_settings.model_copy(update={
        key.removeprefix("SERVICEPULSE_").lower(): float(value)
        for key, value in SIMULATED_TIME_ENV.items()
    })  # fmt: skip
    batches = batches_for(bounded, time.time())
    expected = asyncio.run(publish_batches(test_settings, batches))

    letters = asyncio.run(consume(
        test_settings.kafka_bootstrap, [test_settings.topic_deadletter],
        lambda got: len(got) >= len(expected), timeout=150.0, settle=2.0,
    ))  # fmt: skip
    found = {}
    for record in letters:
        letter = json.loads(record.value)
        source = letter["source"]
        found[(source["topic"], source["partition"], source["offset"])] = letter["category"]
    assert found == {position: category for position, (_, category) in expected.items()}
    kinds = {kind for kind, _ in expected.values()}
    assert {"huge", "duplicate", "time", "content_type", "foreign_type", "broken",
            "odd_field"} <= kinds  # fmt: skip

    asyncio.run(good_records_reach_every_agent(test_settings))
    assert worker.process is not None and worker.process.poll() is None
    log = Path(worker.log_path).read_text(errors="replace")
    assert agent_crashes(log) == []
