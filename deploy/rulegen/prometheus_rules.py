"""Prometheus recording and alerting rules generated from the standards file (pure functions).

``rules_document(config)`` returns the rule file as a dict ready for ``yaml.safe_dump``:

* recording rules ``servicepulse:sli_error:ratio_rate<W>`` per (agency, service, channel,
  standard) for W in 5m, 30m, 1h, 2h, 6h, 1d, 3d::

      1 - (sum by (agency, service, channel, standard) (rate(servicepulse_sli_good_total[W]))
           / sum by (agency, service, channel, standard)
               (rate(servicepulse_sli_observations_total[W])))

* multi-window, multi-burn-rate alerts (Google SRE workbook, "Alerting on SLOs", ch. 5),
  alert ``ServicePulseErrorBudgetBurn``: page (severity critical) when the 1h and 5m error
  ratios exceed 14.4 × budget or the 6h and 30m ones 6 × budget; ticket (severity warning)
  for 1d & 2h at 3 × and 3d & 6h at 1 ×. The error budget is ``1 - objective ratio``
  (durations: ``1 - objective``; ``min`` rates: ``1 - min``; ``max`` rates: ``max``). A pair
  whose threshold (factor × budget) is 1 or more can never fire and is left out (see
  ``omitted_burn_alerts``).
* ``ServicePulseStandardWindowAlert``: the worker's own window-based alert
  (``servicepulse_alerts_firing``) forwarded to Alertmanager;
* pipeline health: dead-letter share, late-event share, consumer lag, worker down/absent.

Budgets follow the standards file's resolution rules (``StandardsConfig.for_group``): for each
standard, the defaults and every override that sets the standard's objective field
(``objective``, ``max`` or ``min``) get their own rules. A layer's rules select its ``match``
with label matchers and exclude the groups where a higher-ranked layer (more specific, or as
specific and later in the file) that overlaps it also sets that field: with a negative matcher
(``agency!="ssa"``) when the exclusion is one label, else with
``unless on(agency, service, channel) <series of the excluded groups>``. So exactly one rule
applies to every group, with the budget ``for_group`` resolves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servicepulse.processors.alerts import DEFAULT_RUNBOOK_BASE_URL
from servicepulse.processors.standards import STANDARD_SPECS, StandardsConfig

GROUP_BY = "agency, service, channel, standard"
MATCH_ON = "agency, service, channel"
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
RECORD_PREFIX = "servicepulse:sli_error:ratio_rate"
BURN_ALERT = "ServicePulseErrorBudgetBurn"
PIPELINE_RUNBOOK_BASE_URL = "https://servicepulse.dev/runbooks/pipeline"
WORKER_JOB = "servicepulse"
_MATCH_KEYS = ("agency", "service", "channel")


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
class BurnScope:
    """The groups one budget applies to, for one standard.

    A group is in scope if it fits every label in ``match`` and fits no mapping in
    ``exclude`` (each exclusion maps labels to values; all must fit to exclude).
    """

    standard: str
    match: tuple[tuple[str, str], ...]
    exclude: tuple[tuple[tuple[str, str], ...], ...]
    budget: float
    source: str

    @property
    def label(self) -> str:
        """``defaults`` or the override's match, e.g. ``agency=ssa,service=retirement``."""
        return ",".join(f"{key}={value}" for key, value in self.match) or "defaults"

    def applies_to(self, group: dict[str, str]) -> bool:
        if any(group[key] != value for key, value in self.match):
            return False
        return not any(all(group[key] == value for key, value in ex) for ex in self.exclude)


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


def burn_scopes(config: StandardsConfig) -> list[BurnScope]:
    """Every (standard, layer) budget with the groups it applies to, defaults first."""
    layers: list[tuple[str, dict[str, str], dict[str, dict[str, float]]]] = [
        ("defaults", {}, config.defaults.standards)
    ]
    layers += [
        (f"overrides[{index}]", dict(layer.match), layer.standards)
        for index, layer in enumerate(config.overrides)
    ]
    # Rank: specificity, then file order (defaults rank lowest); higher rank wins.
    ranked = sorted(enumerate(layers), key=lambda item: (len(item[1][1]), item[0]))
    scopes: list[BurnScope] = []
    names = sorted({name for _, _, standards in layers for name in standards})
    for name in names:
        key = _objective_key(name)
        relevant = [
            (rank, layer) for rank, (_, layer) in enumerate(ranked) if key in layer[2].get(name, {})
        ]
        for rank, (source, match, standards) in relevant:
            excludes: list[tuple[tuple[str, str], ...]] = []
            shadowed = False
            for higher_rank, (_, higher_match, _) in relevant:
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
            budget = round(1.0 - objective_ratio(name, standards[name]), 10)
            scopes.append(
                BurnScope(
                    standard=name,
                    match=tuple((k, match[k]) for k in _MATCH_KEYS if k in match),
                    exclude=tuple(sorted(set(excludes))),
                    budget=budget,
                    source=source,
                )
            )
    return sorted(scopes, key=lambda scope: (scope.standard, _source_index(scope)))


def _source_index(scope: BurnScope) -> int:
    if scope.source == "defaults":
        return -1
    return int(scope.source.removeprefix("overrides[").removesuffix("]"))


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


def _burn_rule(scope: BurnScope, pair: BurnWindow, runbook_base_url: str) -> dict[str, Any]:
    matchers = [f'standard="{scope.standard}"']
    matchers += [f'{key}="{value}"' for key, value in scope.match]
    unless: list[tuple[tuple[str, str], ...]] = []
    for ex in scope.exclude:
        if len(ex) == 1:
            matchers.append(f'{ex[0][0]}!="{ex[0][1]}"')
        else:
            unless.append(ex)
    selector = _selector(matchers)
    threshold = f"({_number(pair.factor)} * {_number(scope.budget)})"
    expr = (
        f"{RECORD_PREFIX}{pair.long}{selector} > {threshold}"
        f" and {RECORD_PREFIX}{pair.short}{selector} > {threshold}"
    )
    for ex in unless:
        excluded = [f'standard="{scope.standard}"']
        excluded += [f'{key}="{value}"' for key, value in scope.match]
        excluded += [f'{key}="{value}"' for key, value in ex]
        expr = f"({expr}) unless on({MATCH_ON}) {RECORD_PREFIX}{pair.long}{_selector(excluded)}"
    objective = _number(1 - scope.budget)
    kind = "page" if pair.severity == "critical" else "ticket"
    return {
        "alert": BURN_ALERT,
        "expr": expr,
        "labels": {
            "severity": pair.severity,
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
                f"too fast ({kind})"
            ),
            "description": (
                f"{scope.standard} error ratio is {{{{ $value | humanizePercentage }}}} over "
                f"{pair.long} (and above the threshold over {pair.short}); the objective is "
                f"{objective} good, an error budget of {_number(scope.budget)} "
                f"({scope.source} in the standards file). At {_number(pair.factor)}x the "
                "30-day budget lasts "
                f"{_number(30 / pair.factor)} days."
            ),
            "runbook_url": f"{runbook_base_url}#{scope.standard}",
        },
    }


def recording_rules() -> list[dict[str, Any]]:
    """SLI error ratio per (agency, service, channel, standard) for every window in WINDOWS."""
    return [
        {
            "record": f"{RECORD_PREFIX}{window}",
            "expr": (
                f"1 - (sum by ({GROUP_BY}) (rate(servicepulse_sli_good_total[{window}]))"
                f" / sum by ({GROUP_BY}) (rate(servicepulse_sli_observations_total[{window}])))"
            ),
        }
        for window in WINDOWS
    ]


def burn_rate_alerts(
    config: StandardsConfig, runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
) -> list[dict[str, Any]]:
    """Multi-window multi-burn-rate alerts for every budget in ``burn_scopes(config)``."""
    return [
        _burn_rule(scope, pair, runbook_base_url)
        for scope in burn_scopes(config)
        for pair in BURN_WINDOWS
        if pair.factor * scope.budget < 1
    ]


def pipeline_alerts(
    runbook_base_url: str = PIPELINE_RUNBOOK_BASE_URL,
    standards_runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
) -> list[dict[str, Any]]:
    """Worker health and the worker's own window-based standard alerts."""
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
                "runbook_url": f"{standards_runbook_base_url}#{{{{ $labels.standard }}}}",
            },
        },
        {
            "alert": "ServicePulseDeadLetterRate",
            "expr": (
                "sum(rate(servicepulse_events_deadlettered_total[10m]))"
                " / (sum(rate(servicepulse_events_consumed_total[10m]))"
                " + sum(rate(servicepulse_events_deadlettered_total[10m]))) > 0.01"
            ),
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "More than 1% of input records are dead-lettered",
                "description": (
                    "{{ $value | humanizePercentage }} of input records over 10m went to "
                    "events.deadletter; a publisher is probably sending invalid events."
                ),
                "runbook_url": f"{runbook_base_url}#dead-letters",
            },
        },
        {
            "alert": "ServicePulseLateEvents",
            "expr": (
                "sum by (agency) (rate(servicepulse_late_events_total[15m]))"
                " / sum by (agency) (rate(servicepulse_sli_observations_total[15m])) > 0.05"
            ),
            "for": "15m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "{{ $labels.agency }}: more than 5% of observations arrive late",
                "description": (
                    "Late observations (after the grace period) are {{ $value | "
                    "humanizePercentage }} of counted ones over 15m for agency "
                    "{{ $labels.agency }}; they are left out of every window."
                ),
                "runbook_url": f"{runbook_base_url}#late-events",
            },
        },
        {
            "alert": "ServicePulseConsumerLag",
            "expr": "sum by (topic) (servicepulse_consumer_lag_messages) > 10000",
            "for": "15m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Topic {{ $labels.topic }} is {{ $value }} messages behind",
                "description": (
                    "The workers have been more than 10000 messages behind the end of "
                    "{{ $labels.topic }} for 15m; windows and alerts are delayed."
                ),
                "runbook_url": f"{runbook_base_url}#consumer-lag",
            },
        },
        {
            "alert": "ServicePulseWorkerDown",
            "expr": f'up{{job="{WORKER_JOB}"}} == 0',
            "for": "2m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "servicepulse worker {{ $labels.instance }} is down",
                "description": (
                    "Prometheus could not scrape {{ $labels.instance }} for 2m; its partitions "
                    "are not processed until it returns or the group rebalances."
                ),
                "runbook_url": f"{runbook_base_url}#worker-down",
            },
        },
        {
            "alert": "ServicePulseWorkerAbsent",
            "expr": f'absent(up{{job="{WORKER_JOB}"}})',
            "for": "5m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "No servicepulse worker is being scraped",
                "description": (
                    f'No up{{job="{WORKER_JOB}"}} series for 5m: the scrape '
                    "configuration or service discovery lost every worker."
                ),
                "runbook_url": f"{runbook_base_url}#worker-down",
            },
        },
    ]


def rules_document(
    config: StandardsConfig, runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
) -> dict[str, Any]:
    """The whole rule file (recording, burn-rate and pipeline groups) as a plain dict."""
    return {
        "groups": [
            {"name": "servicepulse-sli-recording", "rules": recording_rules()},
            {
                "name": "servicepulse-standards-burn-rate",
                "rules": burn_rate_alerts(config, runbook_base_url),
            },
            {
                "name": "servicepulse-pipeline",
                "rules": pipeline_alerts(standards_runbook_base_url=runbook_base_url),
            },
        ]
    }


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
