"""Prometheus recording and alerting rules generated from the standards file (pure functions).

``rules_document(config, options)`` returns the rule file as a dict ready for
``yaml.safe_dump``. Groups:

* ``servicepulse-sli-recording``: per (agency, service, channel, standard) and window W in
  5m … 3d, observations and good observations over W and the error ratio::

      servicepulse:sli_observations:increase<W>, servicepulse:sli_good:increase<W>
      servicepulse:sli_error:ratio_rate<W> = 1 - good / observations

  Never blind: a good count that is missing reads as 0 (every observation bad), and a series
  Prometheus first saw inside W counts its whole value (``_increase``): the worker creates
  both counters at 0 at a group's first observation, so a group whose first 80 calls were all
  abandoned reads as 80 bad out of 80, not as "no data".
* ``servicepulse-slo``: SLO metadata as Sloth and Pyrra record it, over the 30-day period:
  objective, error budget, 30-day error ratio, burn rate (1h and period) and error budget
  remaining, plus each group's ``minimum_sample`` (and ``page`` opt-out) from the standards
  file. Dashboards read these, not a worker gauge. Evaluated every ``options.long_interval``.
* ``servicepulse-standards-burn-rate``: multi-window, multi-burn-rate alerts (Google SRE
  workbook, "Alerting on SLOs", ch. 5), ``ServicePulseErrorBudgetBurn``: page (critical) when
  the 1h and 5m error ratios exceed 14.4 × budget or the 6h and 30m ones 6 × budget; ticket
  (warning) for 1d & 2h at 3 × and 3d & 6h at 1 ×. Only once the long window holds at least
  ``minimum_sample`` observations; once firing, an alert keeps firing while its long window
  still burns (sparse traffic leaves the short window empty: that is not a recovery). A pair
  whose threshold (factor × budget) is 1 or more can never fire and is left out
  (``omitted_burn_alerts``). A standard with ``page: false`` gets tickets instead of pages.
* ``servicepulse-silence``: ``ServicePulseNoData`` for a group that had traffic in the last
  ``options.silence_lookback`` and none for its ``silence_after_seconds``, and (label
  ``standard``) for a standard that sets its own, which wins over the group's and leaves that
  standard out of the group's alert;
  ``ServicePulseUnansweredCases`` when the oldest open case waiting on a duration standard is
  older than the standard's target. Evaluated every ``options.long_interval``.
* ``servicepulse-pipeline``: the worker's own window alerts, dead-letter share, late-event
  share, consumer lag, worker down, no worker exporting; from the event-time watermarks
  (Flink's and Kafka Streams' operator signals), ``ServicePulseWatermarkStalled`` when a stage
  task's watermark stops advancing while its inputs are not idle, and ``ServicePulseInputsIdle``
  when every input partition has been idle for ``options.inputs_idle_for``.

Every value that differs by group follows the standards file's resolution rules
(``StandardsConfig.for_group``): for a field (an objective, a target, a setting), the
defaults and every override that sets it get their own rule. A layer's rule selects its
``match`` with label matchers and excludes the groups where a higher-ranked layer (more
specific, or as specific and later in the file) that overlaps it also sets that field: with a
negative matcher (``agency!="ssa"``) when the exclusion is one label, else with
``unless on(agency, service, channel) <series of the excluded groups>``. So exactly one rule
applies to every group, with the value ``for_group`` resolves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from servicepulse.processors.standards import SILENCE_AFTER, STANDARD_SPECS, StandardsConfig

GROUP_BY = "agency, service, channel, standard"
MATCH_ON = "agency, service, channel"
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# Windows whose recording rules run in the slow group (options.long_interval).
LONG_WINDOWS = ("6h", "1d", "3d")
SLO_PERIOD = "30d"
OBSERVATIONS = "servicepulse_sli_observations_total"
GOOD = "servicepulse_sli_good_total"
RECORD_PREFIX = "servicepulse:sli_error:ratio_rate"
OBSERVATIONS_RECORD = "servicepulse:sli_observations:increase"
GOOD_RECORD = "servicepulse:sli_good:increase"
OBJECTIVE_RECORD = "servicepulse:slo_objective:ratio"
BUDGET_RECORD = "servicepulse:slo_error_budget:ratio"
MINIMUM_SAMPLE_RECORD = "servicepulse:slo_minimum_sample"
PAGE_RECORD = "servicepulse:slo_page:bool"
BURN_ALERT = "ServicePulseErrorBudgetBurn"
NO_DATA_ALERT = "ServicePulseNoData"
UNANSWERED_ALERT = "ServicePulseUnansweredCases"
STALLED_ALERT = "ServicePulseWatermarkStalled"
INPUTS_IDLE_ALERT = "ServicePulseInputsIdle"
# The shipped runbook is deploy/README.md; its headings are the alert names, so the anchor of
# an alert is its name in lower case (GitHub's heading slug).
DEFAULT_RUNBOOK_URL = "https://servicepulse.dev/runbook"
WORKER_JOB = "servicepulse"
_MATCH_KEYS = ("agency", "service", "channel")
_SETTING_SOURCE = "(settings)"


@dataclass(frozen=True, slots=True)
class RuleOptions:
    """What an operator (or a test that cannot wait an hour) chooses beyond the standards file.

    Durations are Prometheus duration strings.
    """

    runbook_url: str = DEFAULT_RUNBOOK_URL
    # Evaluation interval of the slow groups (long windows, 30-day SLO metadata, silence and
    # unanswered cases).
    long_interval: str = "1m"
    silence_lookback: str = "7d"
    silence_for: str = "2m"
    dead_letter_for: str = "10m"
    late_events_for: str = "15m"
    consumer_lag_for: str = "15m"
    worker_down_for: str = "2m"
    worker_absent_for: str = "5m"
    unanswered_for: str = "5m"
    # A stage task's watermark unchanged for this long while its inputs are not idle is stalled
    # (the series must be this old too: a partition that just moved here is not stalled).
    watermark_stalled_after: str = "10m"
    watermark_stalled_for: str = "5m"
    # Every input partition idle (nothing to read for SERVICEPULSE_IDLE_TIMEOUT_SECONDS) for
    # this long: the whole intake went quiet.
    inputs_idle_for: str = "30m"


def runbook_anchor(alert: str) -> str:
    return alert.lower()


@dataclass(frozen=True, slots=True)
class BurnWindow:
    """One multi-window pair: alert when both windows burn faster than ``factor``."""

    long: str
    short: str
    factor: float
    severity: str


# SRE workbook table 5-8: 2% of a 30-day budget in 1h, 5% in 6h (page); 10% in 1d, 10% in 3d.
BURN_WINDOWS = (
    BurnWindow("1h", "5m", 14.4, "critical"),
    BurnWindow("6h", "30m", 6.0, "critical"),
    BurnWindow("1d", "2h", 3.0, "warning"),
    BurnWindow("3d", "6h", 1.0, "warning"),
)


@dataclass(frozen=True, slots=True)
class Scope:
    """The groups one layer's value of one field applies to (``standard`` "" for settings).

    A group is in scope if it fits every label in ``match`` and fits no mapping in
    ``exclude`` (each exclusion maps labels to values; all must fit to exclude).
    """

    standard: str
    match: tuple[tuple[str, str], ...]
    exclude: tuple[tuple[tuple[str, str], ...], ...]
    value: float
    source: str

    @property
    def label(self) -> str:
        """``defaults`` or the override's match, e.g. ``agency=ssa,service=retirement``."""
        return ",".join(f"{key}={value}" for key, value in self.match) or "defaults"

    @property
    def budget(self) -> float:
        """For objective scopes: the error budget (``value`` is the objective ratio)."""
        return round(1.0 - self.value, 10)

    def applies_to(self, group: dict[str, str]) -> bool:
        if any(group[key] != value for key, value in self.match):
            return False
        return not any(all(group[key] == value for key, value in ex) for ex in self.exclude)


# Kept for readers of the previous name: a burn scope is an objective scope.
BurnScope = Scope
Layer = tuple[str, dict[str, str], dict[str, float], dict[str, dict[str, float]]]


def objective_ratio(standard: str, fields: dict[str, float]) -> float:
    """Required share of good observations: objective, min, or 1 - max."""
    spec = STANDARD_SPECS[standard]
    if spec.kind == "duration":
        return fields["objective"]
    if spec.direction == "at_least":
        return fields["min"]
    return 1.0 - fields["max"]


def _objective_key(standard: str) -> str:
    spec = STANDARD_SPECS[standard]
    return "objective" if spec.kind == "duration" else spec.target_key


def _number(value: float) -> str:
    return f"{round(value, 10):g}"


def _layers(config: StandardsConfig) -> list[Layer]:
    layers: list[Layer] = [("defaults", {}, config.defaults.settings, config.defaults.standards)]
    layers += [
        (f"overrides[{index}]", dict(layer.match), layer.settings, layer.standards)
        for index, layer in enumerate(config.overrides)
    ]
    return layers


def _scopes(
    config: StandardsConfig, standard: str, value_of: Callable[[Layer], float | None]
) -> list[Scope]:
    """One scope per layer that sets a field (``value_of`` not None), minus the groups of
    higher-ranked overlapping layers that set it too; defaults first, then file order."""
    # Rank: specificity, then file order (defaults rank lowest); higher rank wins.
    ranked = sorted(enumerate(_layers(config)), key=lambda item: (len(item[1][1]), item[0]))
    relevant = [
        (rank, layer, value)
        for rank, (_, layer) in enumerate(ranked)
        if (value := value_of(layer)) is not None
    ]
    scopes: list[Scope] = []
    for rank, (source, match, _, _), value in relevant:
        excludes: list[tuple[tuple[str, str], ...]] = []
        shadowed = False
        for higher_rank, (_, higher_match, _, _), _ in relevant:
            if higher_rank <= rank:
                continue
            if any(match.get(k, v) != v for k, v in higher_match.items()):
                continue  # disjoint: no group fits both
            extra = tuple(sorted((k, v) for k, v in higher_match.items() if k not in match))
            if not extra:
                shadowed = True
                break
            excludes.append(extra)
        if shadowed:
            continue
        scopes.append(
            Scope(
                standard=standard,
                match=tuple((k, match[k]) for k in _MATCH_KEYS if k in match),
                exclude=tuple(sorted(set(excludes))),
                value=value,
                source=source,
            )
        )
    return sorted(scopes, key=_source_index)


def _source_index(scope: Scope) -> int:
    if scope.source == "defaults":
        return -1
    return int(scope.source.removeprefix("overrides[").removesuffix("]"))


def _standard_field(name: str, key: str) -> Callable[[Layer], float | None]:
    def value_of(layer: Layer) -> float | None:
        fields = layer[3].get(name, {})
        if key not in fields:
            return None
        return objective_ratio(name, fields) if key == _objective_key(name) else fields[key]

    return value_of


def _setting(key: str) -> Callable[[Layer], float | None]:
    return lambda layer: layer[2].get(key)


def _standard_names(config: StandardsConfig) -> list[str]:
    return sorted({name for layer in _layers(config) for name in layer[3]})


def burn_scopes(config: StandardsConfig) -> list[Scope]:
    """Every (standard, layer) objective with the groups it applies to, defaults first."""
    return [
        scope
        for name in _standard_names(config)
        for scope in _scopes(config, name, _standard_field(name, _objective_key(name)))
    ]


def omitted_burn_alerts(config: StandardsConfig) -> list[str]:
    """Burn-rate pairs left out because factor × budget ≥ 1 (an error ratio cannot exceed 1)."""
    lines: list[str] = []
    for scope in burn_scopes(config):
        for pair in BURN_WINDOWS:
            if pair.factor * scope.budget >= 1:
                lines.append(
                    f"{scope.standard} ({scope.source}, budget {_number(scope.budget)}): "
                    f"{pair.long}/{pair.short} at {_number(pair.factor)}x"
                )
    return lines


def _selector(matchers: list[str]) -> str:
    return "{" + ", ".join(matchers) + "}"


def _scoped(
    scope: Scope, series: Callable[[str], str], present: str = OBSERVATIONS,
    extra: list[str] | None = None,
) -> str:  # fmt: skip
    """``series(selector)`` for the scope's groups: its match (and ``extra`` matchers), minus
    the higher layers (the groups of those found in the ``present`` metric)."""
    base = [f'standard="{scope.standard}"'] if scope.standard else []
    base += [f'{key}="{value}"' for key, value in scope.match] + (extra or [])
    matchers = list(base)
    unless: list[tuple[tuple[str, str], ...]] = []
    for ex in scope.exclude:
        if len(ex) == 1:
            matchers.append(f'{ex[0][0]}!="{ex[0][1]}"')
        else:
            unless.append(ex)
    expr = series(_selector(matchers))
    for ex in unless:
        excluded = base + [f'{key}="{value}"' for key, value in ex]
        expr = f"({expr}) unless on({MATCH_ON}) {present}{_selector(excluded)}"
    return expr


def _increase(selector: str, window: str) -> str:
    """increase() that also counts a series born inside the window from 0.

    Prometheus reads a counter's first sample as a starting point, not as an increase, so 80
    abandoned calls counted before the first scrape would be invisible. servicepulse counters
    start at 0 when their label set first appears, so a series with no sample ``window`` ago
    has grown by its whole value; older series use increase() (which handles restarts).
    """
    born_inside = f"({selector} * 1) unless ({selector} offset {window})"
    return f"({born_inside}) or increase({selector}[{window}])"


def _group_constant(scope: Scope, by: str = GROUP_BY) -> str:
    """The scope's value for each of its groups that has observations on record."""
    value = _number(scope.value)
    return _scoped(scope, lambda selector: f"{value} * group by ({by}) ({OBSERVATIONS}{selector})")


def _runbook(options: RuleOptions, alert: str) -> str:
    return f"{options.runbook_url}#{runbook_anchor(alert)}"


def _page_scopes(config: StandardsConfig, name: str) -> list[Scope]:
    return _scopes(config, name, _standard_field(name, "page"))


def _burn_rule(
    scope: Scope, pair: BurnWindow, options: RuleOptions, page: str | None
) -> dict[str, Any]:
    """One pair's alert for one objective scope. ``page`` None: as the pair says; "on": only
    groups that page; "off": the critical pair as a ticket for groups with ``page: false``."""
    threshold = f"({_number(pair.factor)} * {_number(scope.budget)})"
    long, short = f"{RECORD_PREFIX}{pair.long}", f"{RECORD_PREFIX}{pair.short}"
    severity = "warning" if page == "off" else pair.severity
    firing = _selector([
        f'alertname="{BURN_ALERT}"', 'alertstate="firing"', f'long_window="{pair.long}"',
        f'scope="{scope.label}"', f'severity="{severity}"',
    ])  # fmt: skip

    def series(selector: str) -> str:
        enough = (
            f"({OBSERVATIONS_RECORD}{pair.long}{selector}"
            f" >= on({GROUP_BY}) {MINIMUM_SAMPLE_RECORD})"
        )
        burning = f"{long}{selector} > {threshold} and on({GROUP_BY}) {enough}"
        # Once firing, the long window alone keeps it firing: sparse traffic empties the short
        # window (no ratio at all), which is not a recovery.
        return (
            f"({burning} and on({GROUP_BY}) {short}{selector} > {threshold})"
            f" or ({burning} and on({GROUP_BY}) ALERTS{firing})"
        )

    expr = _scoped(scope, series)
    if page == "on":
        expr = f"({expr}) unless on({GROUP_BY}) ({PAGE_RECORD} == 0)"
    elif page == "off":
        expr = f"({expr}) and on({GROUP_BY}) ({PAGE_RECORD} == 0)"
    objective = _number(scope.value)
    kind = "page" if severity == "critical" else "ticket"
    opted_out = " (page: false in the standards file)" if page == "off" else ""
    return {
        "alert": BURN_ALERT,
        "expr": expr,
        "labels": {
            "severity": severity,
            "standard": scope.standard,
            "long_window": pair.long,
            "short_window": pair.short,
            # Tells the rules of different layers apart (promtool rejects duplicate rules).
            "scope": scope.label,
        },
        "annotations": {
            "summary": (
                "{{ $labels.agency }}/{{ $labels.service }}/{{ $labels.channel }}: "
                f"{scope.standard} is burning its error budget {_number(pair.factor)}x "
                f"too fast ({kind}){opted_out}"
            ),
            "description": (
                f"{scope.standard} error ratio is {{{{ $value | humanizePercentage }}}} over "
                f"{pair.long} (and above the threshold over {pair.short}); the objective is "
                f"{objective} good, an error budget of {_number(scope.budget)} "
                f"({scope.source} in the standards file). At {_number(pair.factor)}x the "
                "30-day budget lasts "
                f"{_number(30 / pair.factor)} days."
            ),
            "runbook_url": _runbook(options, BURN_ALERT),
        },
    }


def recording_rules(windows: tuple[str, ...] = WINDOWS) -> list[dict[str, Any]]:
    """Observations, good observations and the error ratio per group for each window."""
    rules: list[dict[str, Any]] = []
    for window in windows:
        observations, good = f"{OBSERVATIONS_RECORD}{window}", f"{GOOD_RECORD}{window}"
        rules += [
            {"record": observations,
             "expr": f"sum by ({GROUP_BY}) ({_increase(OBSERVATIONS, window)})"},
            {"record": good, "expr": f"sum by ({GROUP_BY}) ({_increase(GOOD, window)})"},
            {"record": f"{RECORD_PREFIX}{window}",
             "expr": f"1 - ({good} or 0 * {observations}) / {observations}"},
        ]  # fmt: skip
    return rules


def slo_rules(config: StandardsConfig) -> list[dict[str, Any]]:
    """Sloth/Pyrra-style SLO metadata over the 30-day period, and per-group settings."""
    period = SLO_PERIOD
    observed = f"sum_over_time({OBSERVATIONS_RECORD}5m[{period}])"
    good = f"sum_over_time({GOOD_RECORD}5m[{period}])"
    rules: list[dict[str, Any]] = [
        # The 5m increases are sampled every evaluation, so both sums over the period count
        # each observation the same number of times: their ratio is the period's error ratio.
        {"record": f"{RECORD_PREFIX}{period}",
         "expr": f"1 - ({good} or 0 * {observed}) / {observed}"},
    ]  # fmt: skip
    rules += [
        {"record": OBJECTIVE_RECORD, "expr": _group_constant(scope),
         "labels": {"standard": scope.standard, "scope": scope.label}}
        for scope in burn_scopes(config)
    ]  # fmt: skip
    rules += [
        {"record": BUDGET_RECORD, "expr": f"1 - {OBJECTIVE_RECORD}"},
        {"record": "servicepulse:slo_burn_rate:ratio_rate1h",
         "expr": f"{RECORD_PREFIX}1h / ignoring(scope) {BUDGET_RECORD}"},
        {"record": "servicepulse:slo_period_burn_rate:ratio",
         "expr": f"{RECORD_PREFIX}{period} / ignoring(scope) {BUDGET_RECORD}"},
        {"record": "servicepulse:slo_period_error_budget_remaining:ratio",
         "expr": "1 - servicepulse:slo_period_burn_rate:ratio"},
    ]  # fmt: skip
    for scope in _scopes(config, "", _setting("minimum_sample")):
        rules.append({"record": MINIMUM_SAMPLE_RECORD, "expr": _group_constant(scope),
                      "labels": {"scope": scope.label}})  # fmt: skip
    for name in _standard_names(config):
        for scope in _page_scopes(config, name):
            rules.append({"record": PAGE_RECORD, "expr": _group_constant(scope),
                          "labels": {"standard": name, "scope": scope.label}})  # fmt: skip
    return rules


def burn_rate_alerts(
    config: StandardsConfig, options: RuleOptions | None = None
) -> list[dict[str, Any]]:
    """Multi-window multi-burn-rate alerts for every budget in ``burn_scopes(config)``."""
    options = options or RuleOptions()
    rules: list[dict[str, Any]] = []
    for scope in burn_scopes(config):
        pageable = bool(_page_scopes(config, scope.standard))
        for pair in BURN_WINDOWS:
            if pair.factor * scope.budget >= 1:
                continue
            if pair.severity != "critical" or not pageable:
                rules.append(_burn_rule(scope, pair, options, None))
            else:
                rules.append(_burn_rule(scope, pair, options, "on"))
                rules.append(_burn_rule(scope, pair, options, "off"))
    return rules


def own_silence(config: StandardsConfig) -> list[tuple[str, dict[str, str]]]:
    """(standard, match) of every layer that gives a standard its own silence_after_seconds:
    where one applies, that standard is judged on its own, not with the group's."""
    return [
        (name, match)
        for _, match, _, standards in _layers(config)
        for name, fields in sorted(standards.items())
        if SILENCE_AFTER in fields
    ]


def silence_scopes(config: StandardsConfig) -> tuple[list[Scope], list[Scope]]:
    """The groups' silence_after_seconds scopes, and the standards' own (``standard`` set)."""
    own = [
        scope
        for name in _standard_names(config)
        for scope in _scopes(config, name, _standard_field(name, SILENCE_AFTER))
    ]
    return _scopes(config, "", _setting(SILENCE_AFTER)), own


def _no_data_rule(
    expr: str, scope: Scope, options: RuleOptions, what: str, setting: str
) -> dict[str, Any]:
    seconds = f"{int(scope.value)}s"
    labels = {"severity": "warning"} | ({"standard": scope.standard} if scope.standard else {})
    return {
        "alert": NO_DATA_ALERT,
        "expr": expr,
        "for": options.silence_for,
        "labels": labels | {"scope": scope.label},
        "annotations": {
            "summary": "{{ $labels.agency }}/{{ $labels.service }}/{{ $labels.channel }}: "
                       f"no {what}observations for {seconds}",
            "description": (
                f"The group had {what}observations in the last {options.silence_lookback} "
                f"and none for {seconds} ({setting}, {scope.source} in the standards file): "
                "its publisher stopped, or its events no longer reach servicepulse."
            ),
            "runbook_url": _runbook(options, NO_DATA_ALERT),
        },
    }  # fmt: skip


def silence_alerts(config: StandardsConfig, options: RuleOptions) -> list[dict[str, Any]]:
    """A group gone quiet, and cases nobody answers (duration standards are observed only
    when the measured thing happens, so an unanswered case is otherwise invisible).

    A standard with its own silence_after_seconds gets a ``ServicePulseNoData`` of its own
    (label ``standard``) and is left out of its group's, which watches the other standards.
    """
    lookback = options.silence_lookback
    group_scopes, standard_scopes = silence_scopes(config)
    own = own_silence(config)
    everywhere = sorted({name for name, match in own if not match})
    # Own settings from the defaults are a matcher; from an override, an `unless`.
    not_own = [f'standard!~"{"|".join(everywhere)}"'] if everywhere else []
    layered = [(name, match) for name, match in own if match]

    def leave_out_own(expr: str) -> str:
        for name, match in layered:
            matchers = [f'standard="{name}"', *(f'{k}="{match[k]}"' for k in _MATCH_KEYS
                                                if k in match)]  # fmt: skip
            expr = (
                f"({expr}) unless on({GROUP_BY})"
                f" last_over_time({OBSERVATIONS}{_selector(matchers)}[{lookback}])"
            )
        return expr

    def quiet(selector: str, seconds: str, by: str, own_apart: bool) -> str:
        metric = f"{OBSERVATIONS}{selector}"
        seen, counted = f"last_over_time({metric}[{lookback}])", _increase(metric, seconds)
        if own_apart:
            seen, counted = leave_out_own(seen), leave_out_own(counted)
        return f"group by ({by}) ({seen}) unless on({by}) (sum by ({by}) ({counted}) > 0)"

    rules: list[dict[str, Any]] = []
    # silence_after_seconds: 0 turns the alert off for the groups (or standard) of a scope.
    for scope in (s for s in group_scopes + standard_scopes if s.value > 0):
        seconds = f"{int(scope.value)}s"

        def series(selector: str, seconds: str = seconds, of_group: bool = not scope.standard
                   ) -> str:  # fmt: skip
            return quiet(selector, seconds, MATCH_ON if of_group else GROUP_BY, of_group)

        if scope.standard:
            expr = _scoped(scope, series)
            rules.append(_no_data_rule(expr, scope, options, f"{scope.standard} ",
                                       f"silence_after_seconds of {scope.standard}"))  # fmt: skip
        else:
            expr = _scoped(scope, series, extra=not_own)
            rules.append(_no_data_rule(expr, scope, options, "", SILENCE_AFTER))
    oldest = "servicepulse_unanswered_case_oldest_age_seconds"
    over = "servicepulse_unanswered_cases_over_target"
    for name in _standard_names(config):
        if STANDARD_SPECS[name].kind != "duration":
            continue
        for scope in _scopes(config, name, _standard_field(name, "target_seconds")):
            target = _number(scope.value)

            def unanswered(selector: str, target: str = target) -> str:
                return (
                    f"sum by ({GROUP_BY}) ({over}{selector}) > 0"
                    f" and on({GROUP_BY}) max by ({GROUP_BY}) ({oldest}{selector}) > {target}"
                )

            rules.append({
                "alert": UNANSWERED_ALERT,
                "expr": _scoped(scope, unanswered, present=oldest),
                "for": options.unanswered_for,
                "labels": {"severity": "warning", "standard": name, "scope": scope.label},
                "annotations": {
                    "summary": "{{ $labels.agency }}/{{ $labels.service }}/{{ $labels.channel }}: "
                               f"{{{{ $value }}}} open cases past the {name} target",
                    "description": (
                        f"{{{{ $value }}}} open cases have waited longer than the {name} "
                        f"target of {target} s ({scope.source} in the standards file) and "
                        "are not counted by any window until they complete."
                    ),
                    "runbook_url": _runbook(options, UNANSWERED_ALERT),
                },
            })  # fmt: skip
    return rules


def pipeline_alerts(options: RuleOptions | None = None) -> list[dict[str, Any]]:
    """Worker health and the worker's own window-based standard alerts."""
    options = options or RuleOptions()
    dead = "servicepulse_events_deadlettered_total"
    consumed = "servicepulse_events_consumed_total"
    late = "servicepulse_late_events_total"
    dead_10m = f"sum({_increase(dead, '10m')})"
    late_15m = f"sum by (agency) ({_increase(late, '15m')})"
    counted_15m = f"sum by (agency) ({_increase(OBSERVATIONS, '15m')})"
    return [
        {
            "alert": "ServicePulseStandardWindowAlert",
            "expr": f"max by ({GROUP_BY}, severity) (servicepulse_alerts_firing) == 1",
            "annotations": {
                "summary": (
                    "{{ $labels.agency }}/{{ $labels.service }}/{{ $labels.channel }}: "
                    "{{ $labels.standard }} window alert ({{ $labels.severity }})"
                ),
                "description": (
                    "The worker's event-time window evaluation has a {{ $labels.severity }} "
                    "alert firing for {{ $labels.standard }} (see topic service.alerts for "
                    "the observed value and window)."
                ),
                "runbook_url": _runbook(options, "ServicePulseStandardWindowAlert"),
            },
        },
        {
            "alert": "ServicePulseDeadLetterRate",
            # Safe when nothing valid was consumed yet: every record garbage is 100%.
            "expr": (
                f"{dead_10m} / ({dead_10m} + (sum({_increase(consumed, '10m')}) or vector(0)))"
                " > 0.01"
            ),
            "for": options.dead_letter_for,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "More than 1% of input records are dead-lettered",
                "description": (
                    "{{ $value | humanizePercentage }} of input records over 10m went to "
                    "events.deadletter; a publisher is probably sending invalid events."
                ),
                "runbook_url": _runbook(options, "ServicePulseDeadLetterRate"),
            },
        },
        {
            "alert": "ServicePulseLateEvents",
            # Share of late among late + counted: an agency whose every event is late is 100%.
            "expr": (f"{late_15m} / ({late_15m} + ({counted_15m} or 0 * {late_15m})) > 0.05"),
            "for": options.late_events_for,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "{{ $labels.agency }}: more than 5% of observations arrive late",
                "description": (
                    "Late observations (after the grace period) are {{ $value | "
                    "humanizePercentage }} of all observations over 15m for agency "
                    "{{ $labels.agency }}; they are left out of every window."
                ),
                "runbook_url": _runbook(options, "ServicePulseLateEvents"),
            },
        },
        {
            "alert": "ServicePulseConsumerLag",
            "expr": "sum by (topic) (servicepulse_consumer_lag_messages) > 10000",
            "for": options.consumer_lag_for,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Topic {{ $labels.topic }} is {{ $value }} messages behind",
                "description": (
                    "The workers have been more than 10000 messages behind the end of "
                    f"{{{{ $labels.topic }}}} for {options.consumer_lag_for}; windows and "
                    "alerts are delayed."
                ),
                "runbook_url": _runbook(options, "ServicePulseConsumerLag"),
            },
        },
        {
            "alert": "ServicePulseWorkerDown",
            "expr": f'up{{job="{WORKER_JOB}"}} == 0',
            "for": options.worker_down_for,
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "servicepulse worker {{ $labels.instance }} is down",
                "description": (
                    "Prometheus could not scrape {{ $labels.instance }} for "
                    f"{options.worker_down_for}; its partitions are not processed until it "
                    "returns or the group rebalances."
                ),
                "runbook_url": _runbook(options, "ServicePulseWorkerDown"),
            },
        },
        {
            "alert": "ServicePulseWorkerAbsent",
            "expr": f'absent(servicepulse_build_info{{job="{WORKER_JOB}"}})',
            "for": options.worker_absent_for,
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "No servicepulse worker is exporting metrics",
                "description": (
                    f'No servicepulse_build_info{{job="{WORKER_JOB}"}} series for '
                    f"{options.worker_absent_for}: every worker is down, or the scrape "
                    "configuration or service discovery lost them. Nothing is monitored."
                ),
                "runbook_url": _runbook(options, "ServicePulseWorkerAbsent"),
            },
        },
        *watermark_alerts(options),
    ]


def watermark_alerts(options: RuleOptions) -> list[dict[str, Any]]:
    """Event time that stops while records keep coming, and an intake gone quiet."""
    watermark, idle = "servicepulse_watermark_seconds", "servicepulse_watermark_idle"
    after = options.watermark_stalled_after
    idle_inputs = "servicepulse_input_partition_idle"
    return [
        {
            "alert": STALLED_ALERT,
            # The value is how far event time trails the wall clock. Idle inputs move the
            # watermark on with the wall clock, so an idle task never matches; a series younger
            # than the window (a partition that just moved here) does not either.
            "expr": (
                f"(time() - {watermark}) and changes({watermark}[{after}]) == 0"
                f" and {watermark} offset {after} and {idle} == 0"
            ),
            "for": options.watermark_stalled_for,
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": (
                    "Event time of {{ $labels.stage }} partition {{ $labels.partition }} is stalled"
                ),
                "description": (
                    "The watermark of {{ $labels.stage }} partition {{ $labels.partition }} "
                    f"({{{{ $labels.instance }}}}) has not advanced for {after} while its "
                    "inputs are not idle; it is {{ $value | humanizeDuration }} behind the "
                    "wall clock. No window downstream of it closes and no window alert fires "
                    "until it moves."
                ),
                "runbook_url": _runbook(options, STALLED_ALERT),
            },
        },
        {
            "alert": INPUTS_IDLE_ALERT,
            "expr": f"min({idle_inputs}) == 1",
            "for": options.inputs_idle_for,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Every servicepulse input partition is idle",
                "description": (
                    "No input partition has had a record to read for "
                    f"{options.inputs_idle_for}: every publisher stopped, or their events no "
                    f"longer reach the input topics. Groups raise {NO_DATA_ALERT} after "
                    "their silence_after_seconds."
                ),
                "runbook_url": _runbook(options, INPUTS_IDLE_ALERT),
            },
        },
    ]


def _group(name: str, rules: list[dict[str, Any]], interval: str | None) -> dict[str, Any]:
    group: dict[str, Any] = {"name": name}
    if interval is not None:
        group["interval"] = interval
    group["rules"] = rules
    return group


def rules_document(config: StandardsConfig, options: RuleOptions | None = None) -> dict[str, Any]:
    """The whole rule file as a plain dict."""
    options = options or RuleOptions()
    fast = tuple(window for window in WINDOWS if window not in LONG_WINDOWS)
    return {
        "groups": [
            _group("servicepulse-sli-recording", recording_rules(fast), None),
            _group("servicepulse-sli-recording-long", recording_rules(LONG_WINDOWS),
                   options.long_interval),
            _group("servicepulse-slo", slo_rules(config), options.long_interval),
            _group("servicepulse-standards-burn-rate", burn_rate_alerts(config, options), None),
            # Silence is measured in minutes and looks back a week: the slow interval.
            _group("servicepulse-silence", silence_alerts(config, options), options.long_interval),
            _group("servicepulse-pipeline", pipeline_alerts(options), None),
        ]
    }  # fmt: skip


def prometheus_config(
    rules_file: str = "servicepulse.rules.yml",
    targets: tuple[str, ...] = ("localhost:6066",),
    alertmanagers: tuple[str, ...] = ("localhost:9093",),
) -> dict[str, Any]:
    """A prometheus.yml scraping the workers' /metrics and loading the generated rules."""
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [rules_file],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]},
        "scrape_configs": [
            {
                "job_name": WORKER_JOB,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": list(targets)}],
            }
        ],
    }
