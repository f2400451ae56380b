"""Service-standard windows: observations (keyed by group) → panes table → service.windows.

Window semantics (event time; see processors.windows and processors.window_engine):

    five_minutes  |----|----|----|          tumbling 300 s
    one_hour      |-----------|             3600 s, a new one every 300 s (12 overlap)
                       |-----------|
    one_day       86400 s, a new one every 3600 s

An observation counts in every window containing its event time (for a duration: the time it
completed, e.g. the first response). A (group, standard)'s watermark is the latest event time
seen for it; an observation more than `grace` behind it is late: counted in
servicepulse_late_events_total and sent to the late-events topic, never silently dropped. A
window is final once the watermark passes its end plus grace: one message with final=true.
While open, the newest window of each family gets updates, at most one per
`window_update_seconds`.

State is a plain changelogged table of panes (not Faust's windowed tables, whose state is
lost on restart or rebalance: faust-streaming #118, #172; robinhood/faust #662).
"""

from __future__ import annotations

import json
import time
from typing import Any

import faust
from faust.exceptions import NotReady

from servicepulse.processors.aggregates import objective_ratio
from servicepulse.processors.alerts import AlertPolicy, firing, step
from servicepulse.processors.records import dumps, epoch_of, late_record, parse_observation_record
from servicepulse.processors.standards import Standard, StandardsConfig
from servicepulse.processors.throttle import UpdateThrottle
from servicepulse.processors.transparency import PUBLIC_STANDARDS
from servicepulse.processors.window_engine import Origin, WindowEngine, group_key
from servicepulse.processors.windows import WindowSpec
from servicepulse.schemas.models import INTERACTION_TYPE
from servicepulse.streams.benchmarks import is_calendar_day
from servicepulse.streams.deadletters import DeadLetters
from servicepulse.streams.metrics import Metrics
from servicepulse.streams.settings import Settings

WindowRef = tuple[str, str, WindowSpec, int]  # group, standard, spec, window start


def register_windows(
    app: faust.App, settings: Settings, metrics: Metrics, standards: StandardsConfig
) -> None:
    source = app.topic(
        settings.internal_observation_topic, key_serializer="raw", value_serializer="raw"
    )
    output = app.topic(settings.topic_windows, key_serializer="raw", value_serializer="raw")
    late = app.topic(settings.topic_late, key_serializer="raw", value_serializer="raw")
    dead_letters = DeadLetters(app, settings, metrics)
    panes = app.Table(
        "window-panes", default=None, partitions=settings.partitions, key_type=str,
        help="m|group -> watermark; p|group|standard|pane -> aggregate (window_engine)",
    )  # fmt: skip
    alerts_topic = app.topic(settings.topic_alerts, key_serializer="raw", value_serializer="raw")
    alert_states = app.Table(
        "alert-states", default=None, partitions=settings.partitions, key_type=str,
        help="agency|service|channel|standard -> alert state machine (processors.alerts)",
    )  # fmt: skip
    policy = AlertPolicy(
        for_seconds=settings.alert_for_seconds,
        resolve_after_seconds=settings.alert_resolve_seconds,
        runbook_base_url=settings.runbook_base_url,
    )
    engine = WindowEngine(standards, settings.window_specs, settings.grace_seconds)
    benchmark_inputs = app.topic(
        settings.internal_benchmark_topic, key_serializer="raw", value_serializer="raw",
        partitions=1,
    )  # fmt: skip
    daily = app.topic(settings.internal_daily_topic, key_serializer="raw", value_serializer="raw")
    throttle: UpdateThrottle[WindowRef] = UpdateThrottle(settings.window_update_seconds)
    latest_start: dict[tuple[str, ...], str] = {}

    def on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        throttle.clear()
        # Per-group gauges follow partition ownership: the new owner exports them, and an
        # alert must not stay firing here after its group moved away. Groups this worker keeps
        # are exported again at their next window.
        latest_start.clear()
        for gauge in (metrics.alerts_firing, metrics.window_compliance, metrics.window_value,
                      metrics.window_observations, metrics.standard_status):
            gauge.clear()

    app.on_partitions_revoked.connect(on_revoked)

    async def publish(message: dict[str, Any]) -> None:
        key = "|".join((message["agency"], message["service"], message["channel"],
                        message["standard"])).encode()  # fmt: skip
        await output.send(key=key, value=dumps(message))
        if not message["final"]:
            export_gauges(message)

    def export_gauges(message: dict[str, Any]) -> None:
        labels = (
            metrics.agency(message["agency"]), metrics.service(message["service"]),
            message["channel"], message["standard"], message["window"],
        )  # fmt: skip
        # RFC 3339 UTC strings of one format sort as times.
        start = message["window_start"]
        if latest_start.get(labels, "") > start:
            return  # an older hopping window; the gauges show the newest one
        latest_start[labels] = start
        if message["compliance"] is not None:
            metrics.window_compliance.labels(*labels).set(message["compliance"])
        if message["value"] is not None:
            metrics.window_value.labels(*labels).set(message["value"])
        metrics.window_observations.labels(*labels).set(message["count"])
        for status in ("met", "at_risk", "breached", "insufficient_data"):
            metrics.standard_status.labels(*labels, status).set(
                1 if message["status"] == status else 0
            )

    @app.agent(source, name="standard-windows")
    async def standard_windows(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            message = record.message
            try:
                obs, event_id, origin, origin_offset = parse_observation_record(
                    json.loads(message.value)
                )
            except Exception as err:  # only a foreign writer on our internal topic gets here
                await dead_letters.foreign(message, err, INTERACTION_TYPE)
                continue
            applied = engine.apply(panes, obs, message.offset, Origin(origin, origin_offset))
            if applied.duplicate:
                engine.commit(panes, applied)
                continue
            if applied.late:
                metrics.late_events.labels(metrics.agency(obs.agency), obs.standard).inc()
                group = group_key(obs.agency, obs.service, obs.channel)
                watermark = engine.watermark(panes, group, obs.standard) or obs.at
                await late.send(
                    key=message.key,
                    value=dumps(late_record(obs, event_id, watermark, settings.grace_seconds)),
                )
                engine.commit(panes, applied)
                continue
            if applied.standard is not None:
                labels = (metrics.agency(obs.agency), metrics.service(obs.service),
                          obs.channel, obs.standard)  # fmt: skip
                metrics.sli_observations.labels(*labels).inc()
                # Created at 0 with the first observation, so an all-bad group reads 100% bad.
                good = metrics.sli_good.labels(*labels)
                if applied.good:
                    good.inc()
                metrics.standard_objective.labels(*labels).set(objective_ratio(applied.standard))
            for ref in applied.touched:
                throttle.touch(ref)
            # Finals (and the alerts they drive) leave before the meta entry that marks them
            # sent is written.
            for final in applied.finals:
                await publish(final)
                if final["window"] == settings.alert_window and applied.standard is not None:
                    await evaluate_alerts(final, applied.standard)
                if final["window"] == settings.benchmark_window:
                    await benchmark_inputs.send(key=b"benchmarks", value=dumps(final))
                if final["standard"] in PUBLIC_STANDARDS and is_calendar_day(final):
                    key = f"{final['agency']}|{final['service']}".encode()
                    await daily.send(key=key, value=dumps(final))
            engine.commit(panes, applied)

    async def evaluate_alerts(final: dict[str, Any], standard: Standard) -> None:
        """Each final of the alert window family steps that standard's alert machine, at the
        window's end in event time: a rolling evaluation every window step."""
        key = "|".join((final["agency"], final["service"], final["channel"], standard.name))
        at = epoch_of(final["window_end"])
        state, events = step(alert_states.get(key), final, at, policy, standard)
        for event in events:
            await alerts_topic.send(key=event["fingerprint"].encode(), value=dumps(event))
        alert_states[key] = state
        labels = (metrics.agency(final["agency"]), metrics.service(final["service"]),
                  final["channel"], standard.name)  # fmt: skip
        for severity, on in firing(state).items():
            metrics.alerts_firing.labels(*labels, severity).set(1 if on else 0)

    async def flush_updates() -> None:
        if app.should_stop or not app.producer.started:
            return  # stopping: updates are superseded by the finals a restart will emit
        for group, standard, spec, start in throttle.due(time.time()):
            if not engine.is_open(panes, group, standard, spec, start):
                continue
            update = engine.window_message(panes, group, standard, spec, start, final=False)
            if update is None:
                continue
            try:
                await publish(update)
            except NotReady:
                return  # the producer stopped under us during shutdown

    # Updates leave from a timer, not per observation: rate-limiting is per window anyway,
    # and scanning the dirty set once a second keeps its cost off the per-event path.
    @app.timer(1.0)  # type: ignore[untyped-decorator]
    async def flush_window_updates() -> None:
        await flush_updates()
