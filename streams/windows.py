"""Service-standard windows: observations (keyed by group) → panes table → service.windows.

Window semantics (event time; see processors.windows and processors.window_engine):

    five_minutes  |----|----|----|          tumbling 300 s
    one_hour      |-----------|             3600 s, a new one every 300 s (12 overlap)
                       |-----------|
    one_day       86400 s, a new one every 3600 s

An observation counts in every window containing its event time (for a duration: the time it
completed, e.g. the first response). Each partition's watermark is the minimum over the tasks
writing observations of the watermark records they send (streams.watermarks); an observation
before it is late: counted in servicepulse_late_events_total and sent to the late-events
topic, never silently dropped. A window is final once the watermark reaches its end: one
message with final=true, sent when a watermark record moves the watermark past it. While
open, the newest window of each family gets updates, at most one per family and
`window_update_seconds`.

State is a plain changelogged table of panes (not Faust's windowed tables, whose state is
lost on restart or rebalance: faust-streaming #118, #172; robinhood/faust #662).
"""

from __future__ import annotations

import time
from typing import Any

import faust
from faust.exceptions import NotReady

from servicepulse.processors import envelope
from servicepulse.processors.aggregates import objective_ratio
from servicepulse.processors.alerts import AlertPolicy, firing, step
from servicepulse.processors.cases import Observation
from servicepulse.processors.envelope import WatermarkRecord, WindowFinalRecord
from servicepulse.processors.records import dumps, epoch_of, late_record
from servicepulse.processors.standards import Standard, StandardsConfig
from servicepulse.processors.throttle import UpdateThrottle
from servicepulse.processors.transparency import PUBLIC_STANDARDS
from servicepulse.processors.window_engine import Origin, WindowEngine, group_key
from servicepulse.processors.windows import WindowSpec
from servicepulse.streams import topology
from servicepulse.streams.deadletters import DeadLetters, each_item, run_agent
from servicepulse.streams.delivery import held_writes, sender
from servicepulse.streams.metrics import Metrics, count_when_delivered
from servicepulse.streams.public_feed import is_calendar_day
from servicepulse.streams.settings import Settings
from servicepulse.streams.watermarks import StageWatermarks, channels_of, check_channel

WindowFamily = tuple[str, str, WindowSpec]  # group, standard, spec
# A watermark step's finals for one destination topic and key, sent as few records.
Onward = dict[tuple[Any, bytes], list[dict[str, Any]]]
# A final is about 400 bytes: a long watermark jump's finals stay far below a record's limit.
FINALS_PER_RECORD = 200


def register_windows(
    app: faust.App, settings: Settings, metrics: Metrics, standards: StandardsConfig
) -> None:
    flow = StandardWindows(app, settings, metrics, standards)
    app.on_partitions_revoked.connect(flow.on_revoked)
    run_agent(app, settings, flow.dead_letters, topology.STANDARD_WINDOWS, flow.window_one)

    # Updates leave from a timer, not per observation: rate-limiting is per window anyway,
    # and scanning the dirty set once a second keeps its cost off the per-event path.
    @app.timer(1.0)  # type: ignore[untyped-decorator]
    async def flush_window_updates() -> None:
        await flow.flush_updates()


class StandardWindows:
    """The standard-windows agent's state (panes, alert states, update throttle) and steps."""

    def __init__(
        self, app: faust.App, settings: Settings, metrics: Metrics, standards: StandardsConfig
    ) -> None:
        self.app, self.settings, self.metrics = app, settings, metrics
        self.standards = standards
        self.output = topology.topic(app, settings, topology.WINDOWS)
        self.late = topology.topic(app, settings, topology.LATE)
        self.dead_letters = DeadLetters(app, settings, metrics)
        self.panes = topology.table(app, settings, topology.WINDOW_PANES)
        self.alerts_topic = topology.topic(app, settings, topology.ALERTS)
        self.alert_states = topology.table(app, settings, topology.ALERT_STATES)
        # Finals, late records and alerts leave before the state that marks them sent, whose
        # changelog writes wait for their delivery (streams.delivery).
        self.held = held_writes(app)
        self.send = sender(app)  # window updates, which no state waits for
        self.policy = AlertPolicy(
            for_seconds=settings.alert_for_seconds,
            resolve_after_seconds=settings.alert_resolve_seconds,
            runbook_base_url=settings.runbook_base_url,
        )
        # Every task writing observations is a channel of each observations partition.
        writers = [topology.FEEDBACK_BY_EVENT_ID, topology.INTERACTIONS_BY_CASE_ID,
                   topology.EVENTS_BY_CUSTOMER]  # fmt: skip
        upstream = channels_of([t.name(settings) for t in writers], settings.partitions)
        self.engine = WindowEngine(
            standards, settings.window_specs, settings.grace_seconds, upstream
        )
        self.benchmark_inputs = topology.topic(app, settings, topology.BENCHMARK_INPUTS)
        self.daily = topology.topic(app, settings, topology.DAILY_BY_SERVICE)
        # The watermark each partition's finals were sent up to goes on to benchmarks and the
        # public feed.
        StageWatermarks(
            app, settings, topology.STANDARD_WINDOWS.source.name(settings),
            [(self.benchmark_inputs, 1), (self.daily, settings.partitions)], upstream=None,
            mark_of=lambda partition, now: self.engine.output(self.panes, partition, now),
        )  # fmt: skip
        self.throttle: UpdateThrottle[WindowFamily] = UpdateThrottle(settings.window_update_seconds)
        self.latest_start: dict[tuple[str, ...], str] = {}
        self.sli_children: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}

    def on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        self.throttle.clear()
        # Per-group gauges follow partition ownership: the new owner exports them, and an
        # alert must not stay firing here after its group moved away. Groups this worker keeps
        # are exported again at their next window.
        self.latest_start.clear()
        metrics = self.metrics
        metrics.clear(metrics.alerts_firing, metrics.window_compliance, metrics.window_value,
                      metrics.window_observations, metrics.standard_status)  # fmt: skip
        source = topology.STANDARD_WINDOWS.source.name(self.settings)
        for tp in args[0] if args else kwargs.get("revoked", ()):
            if tp.topic == source:
                self.engine.forget(tp.partition)

    async def window_one(self, message: Any) -> None:
        decoded = envelope.decode(message.value, topology.STANDARD_WINDOWS.source.accepts)
        engine, panes = self.engine, self.panes
        if isinstance(decoded, WatermarkRecord):
            check_channel(decoded.channel, engine.channels)
            mark = decoded.mark
            advanced = engine.advance(
                panes, message.partition, decoded.channel, mark.value, mark.idle, time.time()
            )
            # Finals (and the alerts they drive) leave before the entries that mark them sent.
            onward = Onward()
            for final in advanced.finals:
                await self.send_final(final, onward)
            await self.send_onward(onward)
            engine.commit(panes, advanced)
            return
        if isinstance(decoded, envelope.ObservationBatch):
            offset = message.offset

            async def window_item(index: int, record: envelope.ObservationRecord) -> None:
                await self.window_record(message, record, envelope.item_offset(offset, index))

            await each_item(
                topology.STANDARD_WINDOWS, self.dead_letters, message, decoded.records,
                window_item,
            )  # fmt: skip
            return
        assert isinstance(decoded, envelope.ObservationRecord)  # the topic's other type
        await self.window_record(message, decoded, envelope.item_offset(message.offset, 0))

    async def window_record(
        self, message: Any, record: envelope.ObservationRecord, offset: int
    ) -> None:
        """``offset``: the record's place in the partition (processors.envelope.item_offset),
        which the windows dedupe by, as a record on its own or one of several."""
        origin = Origin(record.origin, record.origin_offset)
        for obs in record.observations:
            await self.window_observation(message, obs, record.event_id, origin, offset)

    async def window_observation(
        self, message: Any, obs: Observation, event_id: str, origin: Origin, offset: int
    ) -> None:
        """One observation of the record: each standard has its own entries, so each is
        applied, sent and committed on its own, with the record's place."""
        engine, panes, metrics = self.engine, self.panes, self.metrics
        applied = engine.apply(panes, obs, offset, origin, message.partition, time.time())
        if applied.duplicate:
            engine.commit(panes, applied)
            return
        if applied.late:
            watermark = applied.watermark if applied.watermark is not None else obs.at
            grace = self.settings.grace_seconds
            late_value = late_record(obs, event_id, watermark, grace)
            counted = count_when_delivered(
                metrics.child(metrics.late_events, metrics.agency(obs.agency), obs.standard)
            )
            key = group_key(obs.agency, obs.service, obs.channel).encode()
            await self.held.send(self.late, key=key, value=dumps(late_value),
                                 callback=counted)  # fmt: skip
            engine.commit(panes, applied)
            return
        if applied.standard is not None:
            observed, good = self.sli_counters(obs, applied.standard)
            observed.inc()
            if applied.good:
                good.inc()
        for group, standard, spec, start in applied.touched:
            self.throttle.touch((group, standard, spec), start)
        engine.commit(panes, applied)

    def sli_counters(self, obs: Observation, standard: Standard) -> tuple[Any, Any]:
        """The observation's group and standard's SLI counters (observations, good), looked up
        once per group and standard: every observation counts, several per event."""
        key = (obs.agency, obs.service, obs.channel, obs.standard)
        found = self.sli_children.get(key)
        if found is None:
            metrics = self.metrics
            labels = (metrics.agency(obs.agency), metrics.service(obs.service),
                      obs.channel, obs.standard)  # fmt: skip
            child = metrics.child
            # Created at 0 with the first observation, so an all-bad group reads 100% bad,
            # and a late share reads 0 rather than nothing. The objective is the standard's,
            # fixed for the worker's life (standards are read at start).
            child(metrics.late_events, labels[0], obs.standard)
            child(metrics.standard_objective, *labels).set(objective_ratio(standard))
            found = (child(metrics.sli_observations, *labels), child(metrics.sli_good, *labels))
            self.sli_children[key] = found
        return found

    async def send_final(self, final: dict[str, Any], onward: Onward) -> None:
        """A final goes out and steps the alerts; what feeds benchmarks and the public feed is
        gathered in ``onward``, sent once per watermark step (``send_onward``)."""
        await self.publish(final)
        standard = self.standards.for_group(
            final["agency"], final["service"], final["channel"]
        ).get(final["standard"])
        if final["window"] == self.settings.alert_window and standard is not None:
            await self.evaluate_alerts(final, standard)
        if final["window"] == self.settings.benchmark_window:
            onward.setdefault((self.benchmark_inputs, b"benchmarks"), []).append(final)
        if final["standard"] in PUBLIC_STANDARDS and is_calendar_day(final):
            key = f"{final['agency']}|{final['service']}".encode()
            onward.setdefault((self.daily, key), []).append(final)

    async def send_onward(self, onward: Onward) -> None:
        for (topic, key), finals in onward.items():
            for start in range(0, len(finals), FINALS_PER_RECORD):
                chunk = tuple(finals[start : start + FINALS_PER_RECORD])
                value = envelope.encode(WindowFinalRecord(chunk))
                await self.held.send(topic, key=key, value=value)

    async def publish(self, message: dict[str, Any]) -> None:
        key = "|".join((message["agency"], message["service"], message["channel"],
                        message["standard"])).encode()  # fmt: skip
        if message["final"]:
            await self.held.send(self.output, key=key, value=dumps(message))
            return
        # No state records that an update was sent: nothing need wait for its delivery.
        await self.send(self.output, key=key, value=dumps(message))
        self.export_gauges(message)

    def export_gauges(self, message: dict[str, Any]) -> None:
        metrics = self.metrics
        labels = (
            metrics.agency(message["agency"]), metrics.service(message["service"]),
            message["channel"], message["standard"], message["window"],
        )  # fmt: skip
        # RFC 3339 UTC strings of one format sort as times.
        start = message["window_start"]
        if self.latest_start.get(labels, "") > start:
            return  # an older hopping window; the gauges show the newest one
        self.latest_start[labels] = start
        child = metrics.child
        if message["compliance"] is not None:
            child(metrics.window_compliance, *labels).set(message["compliance"])
        if message["value"] is not None:
            child(metrics.window_value, *labels).set(message["value"])
        child(metrics.window_observations, *labels).set(message["count"])
        for status in ("met", "at_risk", "breached", "insufficient_data"):
            child(metrics.standard_status, *labels, status).set(
                1 if message["status"] == status else 0
            )

    async def evaluate_alerts(self, final: dict[str, Any], standard: Standard) -> None:
        """Each final of the alert window family steps that standard's alert machine, at the
        window's end in event time: a rolling evaluation every window step."""
        key = "|".join((final["agency"], final["service"], final["channel"], standard.name))
        at = epoch_of(final["window_end"])
        state, events = step(self.alert_states.get(key), final, at, self.policy, standard)
        for event in events:
            await self.held.send(self.alerts_topic, key=event["fingerprint"].encode(),
                                 value=dumps(event))  # fmt: skip
        self.alert_states[key] = state
        metrics = self.metrics
        labels = (metrics.agency(final["agency"]), metrics.service(final["service"]),
                  final["channel"], standard.name)  # fmt: skip
        for severity, on in firing(state).items():
            metrics.child(metrics.alerts_firing, *labels, severity).set(1 if on else 0)

    async def flush_updates(self) -> None:
        if self.app.should_stop or not self.app.producer.started:
            return  # stopping: updates are superseded by the finals a restart will emit
        engine, panes = self.engine, self.panes
        for (group, standard, spec), start in self.throttle.due(time.time()):
            if not engine.is_open(panes, group, standard, spec, start):
                continue
            update = engine.window_message(panes, group, standard, spec, start, final=False)
            if update is None:
                continue
            try:
                await self.publish(update)
            except NotReady:
                return  # the producer stopped under us during shutdown
