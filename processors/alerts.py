"""Breach alerts: a pure, event-time state machine per (agency, service, channel, standard).

``step`` is called with every window summary of one standard for one group (the dict built by
``processors.aggregates.summary`` plus ``agency``, ``service``, ``channel``, ``window``,
``window_start`` and ``window_end``) and returns the new state and the ``service.alerts``
messages to publish (schema ``schemas/json/service-alert.v1.schema.json``).

Semantics, modelled on Prometheus alerting rules and Alertmanager:

* Two independent alerts per key, one per severity, each with its own ``fingerprint``:
  ``warning`` (condition: status ``at_risk`` *or worse*) and ``critical`` (status
  ``breached``). Escalating from at_risk to breached therefore does **not** resolve the
  warning: both fire, and consumers suppress the warning while the critical alert with the
  same agency/service/channel/standard fires (the Alertmanager ``inhibit_rules`` in
  ``deploy/alertmanager/alertmanager.yml`` do the same for the Prometheus alerts). A breach
  that eases to at_risk resolves only the critical alert.
* ``for_seconds``: the condition must hold, in event time (``at``), for this long before the
  alert fires (``pending`` until then; any summary without the condition drops it back to
  inactive, like a Prometheus ``for`` clause). ``0`` fires on the first summary.
* Resolution needs *recovery*: the value back on the good side of the threshold by the relative
  ``hysteresis`` (e.g. ``max 0.05`` → at most 0.049 with the default 0.02), held for
  ``resolve_after_seconds`` of event time. A value between the threshold and the hysteresis
  bound keeps the alert firing and restarts the recovery clock. Together these bound the number
  of events a value oscillating around a threshold can cause.
* ``insufficient_data`` summaries change nothing: they neither start, fire, nor resolve an
  alert, and do not reset a pending or recovery clock.
* Summaries older than the last one processed (``at`` < ``last_at``) are ignored, so replaying
  input after a restart cannot move an alert backwards; re-processing the same summary with the
  stored state emits nothing new.

The state (``AlertState``) is a plain JSON-able dict, stored in a Faust changelog table::

    {"version": 1, "last_at": 1767225600.0,
     "alerts": {"warning": {"phase": "firing", "since": 1767224400.0,
                            "recovering_since": null},
                "critical": {"phase": "inactive", "since": null, "recovering_since": null}}}

``phase`` is inactive | pending | firing | resolving (firing, with recovery under way);
``since`` is when the condition began to hold, reported as the alert's ``started_at``.
Times in messages are RFC 3339 UTC strings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from servicepulse.processors.aggregates import DECIMALS, thresholds
from servicepulse.processors.standards import Standard
from servicepulse.processors.timestamps import rfc3339

Severity = Literal["warning", "critical"]
Phase = Literal["inactive", "pending", "firing", "resolving"]
AlertEvent = dict[str, Any]


class SeverityState(TypedDict):
    phase: Phase
    since: float | None
    recovering_since: float | None


class AlertState(TypedDict):
    """One (agency, service, channel, standard) key's alerts; a changelog value."""

    version: int
    last_at: float | None
    alerts: dict[Severity, SeverityState]


STATE_VERSION = 1
SEVERITIES: tuple[Severity, ...] = ("warning", "critical")
DEFAULT_RUNBOOK_BASE_URL = "https://servicepulse.dev/runbooks/standards"


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """How long a condition must persist before an alert fires or resolves, in event time."""

    for_seconds: float = 600.0
    resolve_after_seconds: float = 900.0
    # Relative distance past the threshold (on its good side) that counts as recovered.
    hysteresis: float = 0.02
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL

    def __post_init__(self) -> None:
        if self.for_seconds < 0 or self.resolve_after_seconds < 0:
            raise ValueError("for_seconds and resolve_after_seconds must not be negative")
        if not 0 <= self.hysteresis < 1:
            raise ValueError("hysteresis must be in [0, 1)")


def initial_state() -> AlertState:
    """State of a key that has never alerted."""
    return {
        "version": STATE_VERSION,
        "last_at": None,
        "alerts": {severity: _inactive() for severity in SEVERITIES},
    }


def firing(state: AlertState | None) -> dict[Severity, bool]:
    """Which severities are firing (for the ``servicepulse_alerts_firing`` gauge)."""
    alerts = (state or initial_state())["alerts"]
    return {s: alerts[s]["phase"] in ("firing", "resolving") for s in SEVERITIES}


def fingerprint(agency: str, service: str, channel: str, standard: str, severity: str) -> str:
    """Stable id of one alert: first 16 hex digits of SHA-256 over its identifying labels."""
    text = json.dumps([agency, service, channel, standard, severity], separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def step(
    state: AlertState | None,
    summary: dict[str, Any],
    at: float,
    policy: AlertPolicy,
    standard: Standard,
) -> tuple[AlertState, list[AlertEvent]]:
    """Advance one key's alerts with a window summary observed at event time ``at``.

    Returns the new state (``state`` is not modified) and the alert messages to publish, in
    severity order warning, critical.
    """
    current: AlertState = json.loads(json.dumps(state)) if state is not None else initial_state()
    last_at = current["last_at"]
    if last_at is not None and at < last_at:
        return current, []
    status = summary["status"]
    measured = _measured(summary, standard)
    if status == "insufficient_data" or measured is None:
        return current, []
    current["last_at"] = float(at)
    value = round(measured, DECIMALS)
    events: list[AlertEvent] = []
    for severity in SEVERITIES:
        active = status == "breached" or (severity == "warning" and status == "at_risk")
        recovered = not active and _recovered(value, severity, standard, policy.hysteresis)
        alert, event_state = _advance(current["alerts"][severity], active, recovered, at, policy)
        current["alerts"][severity] = alert
        if event_state is not None:
            events.append(_event(event_state, severity, alert, summary, at, policy, standard))
            if event_state == "resolved":
                current["alerts"][severity] = _inactive()
    return current, events


def _measured(summary: dict[str, Any], standard: Standard) -> float | None:
    """What the objective is judged on: compliance for durations (``value`` is then the
    duration at the objective's quantile, in seconds), the rate itself for rates."""
    measured = summary.get("compliance") if standard.kind == "duration" else summary.get("value")
    return None if measured is None else float(measured)


def _inactive() -> SeverityState:
    return _alert("inactive", None, None)


def _advance(
    alert: SeverityState, active: bool, recovered: bool, at: float, policy: AlertPolicy
) -> tuple[SeverityState, str | None]:
    """One severity's transition; returns the new alert state and "firing"/"resolved"/None."""
    phase = alert["phase"]
    since, recovering_since = alert["since"], alert["recovering_since"]
    if phase in ("inactive", "pending"):
        if not active:
            return _inactive(), None
        if phase == "inactive" or since is None:
            since, recovering_since = float(at), None
        if at - since >= policy.for_seconds:
            return _alert("firing", since, recovering_since), "firing"
        return _alert("pending", since, recovering_since), None
    # firing or resolving
    if not recovered:
        return _alert("firing", since, None), None
    if phase == "firing" or recovering_since is None:
        recovering_since = float(at)
    resolving = _alert("resolving", since, recovering_since)
    if at - recovering_since >= policy.resolve_after_seconds:
        return resolving, "resolved"
    return resolving, None


def _alert(phase: Phase, since: float | None, recovering_since: float | None) -> SeverityState:
    return {"phase": phase, "since": since, "recovering_since": recovering_since}


def _recovered(value: float, severity: str, standard: Standard, hysteresis: float) -> bool:
    """True if ``value`` is back past ``severity``'s threshold by the relative hysteresis."""
    bounds = thresholds(standard)
    threshold = bounds.breached if severity == "critical" else bounds.at_risk
    return not bounds.is_bad(value, bounds.toward_good(threshold, hysteresis))


def _rfc3339(value: float | str | None) -> str | None:
    """Summaries carry RFC 3339 text already; alert state carries event times."""
    if value is None or isinstance(value, str):
        return value
    return rfc3339(float(value), "auto_milliseconds")


def _event(
    event_state: str,
    severity: Severity,
    alert: SeverityState,
    summary: dict[str, Any],
    at: float,
    policy: AlertPolicy,
    standard: Standard,
) -> AlertEvent:
    agency, service, channel = summary["agency"], summary["service"], str(summary["channel"])
    objective = summary.get("objective", standard.objective)
    return {
        "state": event_state,
        "severity": severity,
        "agency": agency,
        "service": service,
        "channel": channel,
        "standard": standard.name,
        "window": summary["window"],
        "window_start": _rfc3339(summary["window_start"]),
        "window_end": _rfc3339(summary["window_end"]),
        "observed": _measured(summary, standard),
        "compliance": None if summary.get("compliance") is None else float(summary["compliance"]),
        "target": float(summary.get("target", standard.target)),
        "objective": None if objective is None else float(objective),
        "count": int(summary["count"]),
        "fingerprint": fingerprint(agency, service, channel, standard.name, severity),
        "started_at": _rfc3339(alert["since"]),
        "resolved_at": _rfc3339(at) if event_state == "resolved" else None,
        "runbook_url": f"{policy.runbook_base_url}#{standard.name}",
        "summary": _sentence(event_state, severity, summary, standard),
    }


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.1f}%"


def _sentence(event_state: str, severity: str, summary: dict[str, Any], standard: Standard) -> str:
    group = f"{summary['agency']}/{summary['service']}/{summary['channel']}"
    value = _measured(summary, standard) or 0.0
    if standard.kind == "duration":
        objective = standard.objective if standard.objective is not None else 0.0
        measured = (
            f"{_percent(value)} within {standard.target:g} s (objective {_percent(objective)})"
        )
    else:
        bound = "max" if standard.direction == "at_most" else "min"
        measured = f"{_percent(value)} ({bound} {_percent(standard.target)})"
    condition = "breached" if severity == "critical" else "at risk"
    verb = f"is {condition}" if event_state == "firing" else f"is no longer {condition}"
    return (
        f"{group}: {standard.name} {verb}: {measured} over {summary['count']} observations "
        f"in the {summary['window']} window ending {_rfc3339(summary['window_end'])}."
    )
