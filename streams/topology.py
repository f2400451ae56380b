"""Every topic and table of the worker, declared once (names come from Settings).

Flows open topics and tables through `topic()` and `table()`, `streams.topics.ensure_topics`
creates `TOPICS`, agents are registered by `AGENTS` entry (streams.deadletters.run_agent), the
integration tests wait on `consumed()`, and a unit test checks README's architecture section
against this module.

    feedback.events ──▶ ingest-feedback ──▶ FEEDBACK_BY_EVENT_ID ──▶ score-feedback
    interaction.events ─▶ ingest-interaction ─▶ INTERACTIONS_BY_CASE_ID ─▶ correlate-cases
    (both ingests) ──▶ EVENTS_BY_CUSTOMER ──▶ customer-journeys
    (score, correlate, journeys) ──▶ OBSERVATIONS_BY_GROUP ──▶ standard-windows
    standard-windows ──▶ BENCHMARK_INPUTS ──▶ peer-benchmarks
    standard-windows ──▶ DAILY_BY_SERVICE ──▶ public-performance
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import faust

from servicepulse.processors import state_shapes
from servicepulse.processors.alerts import AlertState
from servicepulse.processors.cases import Case
from servicepulse.processors.envelope import RecordType
from servicepulse.processors.state_shapes import TableShape
from servicepulse.schemas.models import FEEDBACK_TYPE, INTERACTION_TYPE
from servicepulse.streams.delivery import held_writes
from servicepulse.streams.restore import RestorableTable
from servicepulse.streams.settings import Settings

# Dead-letter records carry the original bytes base64-encoded (4/3 larger) plus metadata.
DEADLETTER_MAX_MESSAGE_BYTES = 4 * 1024 * 1024

Role = Literal["input", "output", "internal"]


@dataclass(frozen=True)
class Topic:
    setting: str  # the Settings attribute holding the name
    role: Role
    key: str
    # What a dead letter from this topic names as expected: the contract's event type on an
    # input topic, "internal:" and the envelope record types on an internal one.
    carries: str = ""
    accepts: frozenset[RecordType] = frozenset()
    # Peer ranking needs every group's value in one place.
    single_partition: bool = False
    max_message_bytes: int | None = None

    def name(self, settings: Settings) -> str:
        return str(getattr(settings, self.setting))

    def partitions(self, settings: Settings) -> int:
        return 1 if self.single_partition else settings.partitions


def _internal(setting: str, key: str, *types: RecordType, single: bool = False) -> Topic:
    carries = "internal:" + "|".join(types)
    # Every internal topic also carries its writers' watermark records (streams.watermarks);
    # a topic of events or observations, records carrying several (streams.batching).
    carries_events = {RecordType.FEEDBACK, RecordType.INTERACTION} & {*types}
    several = {RecordType.EVENTS} if carries_events else set()
    if RecordType.OBSERVATION in types:
        several.add(RecordType.OBSERVATIONS)
    accepts = frozenset({*types, *several, RecordType.WATERMARK})
    return Topic(setting, "internal", key, carries, accepts, single_partition=single)


FEEDBACK_EVENTS = Topic("topic_feedback", "input", "event_id (any)", FEEDBACK_TYPE)
INTERACTION_EVENTS = Topic("topic_interactions", "input", "case_id (any)", INTERACTION_TYPE)
FEEDBACK_BY_EVENT_ID = _internal("internal_feedback_topic", "event_id", RecordType.FEEDBACK)
INTERACTIONS_BY_CASE_ID = _internal("internal_interaction_topic", "case_id", RecordType.INTERACTION)
EVENTS_BY_CUSTOMER = _internal(
    "internal_contact_topic", "customer_ref", RecordType.FEEDBACK, RecordType.INTERACTION
)
OBSERVATIONS_BY_GROUP = _internal(
    "internal_observation_topic", "agency|service|channel", RecordType.OBSERVATION
)
BENCHMARK_INPUTS = _internal(
    "internal_benchmark_topic", "benchmarks", RecordType.WINDOW_FINAL, single=True
)
DAILY_BY_SERVICE = _internal("internal_daily_topic", "agency|service", RecordType.WINDOW_FINAL)
SCORED = Topic("topic_scored", "output", "event_id")
DEADLETTER = Topic(
    "topic_deadletter", "output", "original key", max_message_bytes=DEADLETTER_MAX_MESSAGE_BYTES
)
WINDOWS = Topic("topic_windows", "output", "agency|service|channel|standard")
LATE = Topic("topic_late", "output", "agency|service|channel")
ALERTS = Topic("topic_alerts", "output", "fingerprint")
JOURNEYS = Topic("topic_journeys", "output", "customer_ref")
BENCHMARKS = Topic("topic_benchmarks", "output", "agency|service|channel|standard")
PUBLIC = Topic("topic_public", "output", "agency|service|day")

TOPICS = (
    FEEDBACK_EVENTS, INTERACTION_EVENTS,
    FEEDBACK_BY_EVENT_ID, INTERACTIONS_BY_CASE_ID, EVENTS_BY_CUSTOMER, OBSERVATIONS_BY_GROUP,
    BENCHMARK_INPUTS, DAILY_BY_SERVICE,
    SCORED, DEADLETTER, WINDOWS, LATE, ALERTS, JOURNEYS, BENCHMARKS, PUBLIC,
)  # fmt: skip


@dataclass(frozen=True)
class Table:
    name: str
    source: Topic  # the topic whose partitions the table's rows live in
    help: str
    # What a changelog value must look like to be restored (processors.state_shapes).
    shape: TableShape
    # Each row stands alone (no row's meaning depends on another's), so a held write a later
    # one of its key replaces may be dropped (streams.delivery). Not for tables whose rows
    # must reach the changelog in order, like a watermark entry and the panes it expires.
    coalesce_writes: bool = False
    # Rows under these key prefixes may be parked all the same (streams.delivery.HeldWrites):
    # rows that stand alone, and rows that vouch for the writes before them; any other write
    # of their partition sends them first.
    parked_prefix: str | None = None
    floor_prefix: str | None = None

    def partitions(self, settings: Settings) -> int:
        return self.source.partitions(settings)


SEEN_EVENT_IDS = Table(
    "feedback-seen-event-ids", FEEDBACK_BY_EVENT_ID,
    "event_id -> first sighting, for redelivery detection",
    state_shapes.value_of(state_shapes.SeenId),
)  # fmt: skip
CASES = Table(
    "cases", INTERACTIONS_BY_CASE_ID, "case_id -> case state (processors.cases)",
    state_shapes.value_of(Case), coalesce_writes=True,
)  # fmt: skip
CUSTOMERS = Table(
    "customers", EVENTS_BY_CUSTOMER,
    "customer_ref -> {journey, contacts (repeat-contact history), p}",
    state_shapes.value_of(state_shapes.CustomerEntry), coalesce_writes=True,
)  # fmt: skip
WINDOW_PANES = Table(
    "window-panes", OBSERVATIONS_BY_GROUP,
    "w|partition -> watermark entry; m|group|standard -> live panes and offsets applied; "
    "p|group|standard|pane -> aggregate (window_engine)",
    state_shapes.window_panes, parked_prefix="p|", floor_prefix="m|",
)  # fmt: skip
ALERT_STATES = Table(
    "alert-states", OBSERVATIONS_BY_GROUP,
    "agency|service|channel|standard -> alert state machine (processors.alerts)",
    state_shapes.value_of(AlertState), coalesce_writes=True,
)  # fmt: skip
BENCHMARK_LATEST = Table(
    "benchmark-latest", BENCHMARK_INPUTS,
    "agency|service|channel|standard -> latest final compliance of benchmark_window",
    state_shapes.benchmark_latest,
)  # fmt: skip
PUBLIC_DAYS = Table(
    "public-days", DAILY_BY_SERVICE,
    "agency|service|day -> {p: partition, end: epoch s, parts: {channel|std: [n, ok]}}",
    state_shapes.value_of(state_shapes.PublicDay),
)  # fmt: skip

TABLES = (
    SEEN_EVENT_IDS,
    CASES,
    CUSTOMERS,
    WINDOW_PANES,
    ALERT_STATES,
    BENCHMARK_LATEST,
    PUBLIC_DAYS,
)


@dataclass(frozen=True)
class Agent:
    name: str
    source: Topic


INGEST_FEEDBACK = Agent("ingest-feedback", FEEDBACK_EVENTS)
INGEST_INTERACTION = Agent("ingest-interaction", INTERACTION_EVENTS)
SCORE_FEEDBACK = Agent("score-feedback", FEEDBACK_BY_EVENT_ID)
CORRELATE_CASES = Agent("correlate-cases", INTERACTIONS_BY_CASE_ID)
CUSTOMER_JOURNEYS = Agent("customer-journeys", EVENTS_BY_CUSTOMER)
STANDARD_WINDOWS = Agent("standard-windows", OBSERVATIONS_BY_GROUP)
PEER_BENCHMARKS = Agent("peer-benchmarks", BENCHMARK_INPUTS)
PUBLIC_PERFORMANCE = Agent("public-performance", DAILY_BY_SERVICE)

AGENTS = (
    INGEST_FEEDBACK, INGEST_INTERACTION, SCORE_FEEDBACK, CORRELATE_CASES, CUSTOMER_JOURNEYS,
    STANDARD_WINDOWS, PEER_BENCHMARKS, PUBLIC_PERFORMANCE,
)  # fmt: skip


def consumed(settings: Settings) -> list[str]:
    """The names of the topics the worker reads: inputs and internal topics."""
    return [t.name(settings) for t in TOPICS if t.role != "output"]


def topic(app: faust.App, settings: Settings, spec: Topic) -> faust.TopicT:
    """The topic as raw bytes both ways: decoding happens inside the agents, where a bad record
    becomes a dead letter instead of an exception before the loop."""
    return app.topic(
        spec.name(settings), key_serializer="raw", value_serializer="raw",
        partitions=1 if spec.single_partition else None,
    )  # fmt: skip


def table(app: faust.App, settings: Settings, spec: Table) -> Any:
    """A changelog-backed table that skips changelog records it cannot restore, or whose value
    does not fit the table (streams.restore)."""
    return app.tables.add(RestorableTable(
        app, name=spec.name, default=None, partitions=spec.partitions(settings), key_type=str,
        help=spec.help, shape=spec.shape, held=held_writes(app),
        coalesce_writes=spec.coalesce_writes, parked_prefix=spec.parked_prefix,
        floor_prefix=spec.floor_prefix,
    ))  # fmt: skip
