"""Service standards: the YAML file that says what "good" means per agency, service and channel.

The file is read once at start-up (``load_standards``) and every problem is reported as one
``StandardsFileError`` whose text is ``"<file>: <location>: <problem>"``, e.g.
``standards.yaml: overrides[1].standards.csat.min: must be a number between 0 and 1 (got 1.5)``,
so an operator can fix the file without reading a traceback.

Resolution for a group (agency, service, channel): start from ``defaults``, then apply every
override whose ``match`` fits the group, least specific first (specificity = number of keys in
``match``; ties keep file order, and two overrides with the same ``match`` are an error), so
the most specific match wins field by field. Overrides
merge per standard: ``{time_to_first_response: {target_seconds: 7200}}`` keeps the default
objective.

``silence_after_seconds`` (how long a group with traffic may send nothing before
ServicePulseNoData) is a group setting, and may also be set on a standard
(``csat: {min: 0.8, silence_after_seconds: 86400}``): a standard's own value, from the most
specific layer that sets it for that standard, wins over the group's from any layer, since how
often a standard is observed is a property of what it measures (rated survey responses are
sparser than calls, whatever the line). ``StandardsConfig.silence_after_seconds`` resolves it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from servicepulse.schemas.models import SHORT_ID_PATTERN, Channel, Drivers

Kind = Literal["duration", "rate"]
Direction = Literal["at_most", "at_least"]

SUPPORTED_VERSION = 1
# Used when the file's ``defaults`` leaves a setting out.
FALLBACK_MINIMUM_SAMPLE = 20
FALLBACK_AT_RISK_MARGIN = 0.10
FALLBACK_REPEAT_CONTACT_DAYS = 30
# A group that had traffic and sends nothing for this long raises ServicePulseNoData; 0 turns
# the alert off for the groups a layer matches.
FALLBACK_SILENCE_AFTER_SECONDS = 3600
SILENCE_AFTER = "silence_after_seconds"

DRIVER_NAMES: tuple[str, ...] = tuple(Drivers.model_fields)


@dataclass(frozen=True, slots=True)
class _Spec:
    kind: Kind
    direction: Direction
    # The YAML key holding the target: seconds for durations, the ratio bound for rates.
    target_key: str


_DURATION = _Spec("duration", "at_most", "target_seconds")
_AT_MOST = _Spec("rate", "at_most", "max")
_AT_LEAST = _Spec("rate", "at_least", "min")

STANDARD_SPECS: dict[str, _Spec] = {
    "time_to_first_response": _DURATION,
    "time_to_resolution": _DURATION,
    "abandonment_rate": _AT_MOST,
    "transfer_rate": _AT_MOST,
    "repeat_contact_rate": _AT_MOST,
    "self_service_share": _AT_LEAST,
    "csat": _AT_LEAST,
    "negative_sentiment_share": _AT_MOST,
    # Cases whose need was run around (processors.journeys): transfers, agencies, repeats.
    "run_around_rate": _AT_MOST,
    # Every OMB A-11 §280 driver is a standard of its own: share of answers scoring 4–5.
    **dict.fromkeys(DRIVER_NAMES, _AT_LEAST),
}
STANDARD_NAMES: tuple[str, ...] = tuple(sorted(STANDARD_SPECS))

_SETTING_KEYS = (
    "minimum_sample", "at_risk_margin", "repeat_contact_days", "silence_after_seconds",
)  # fmt: skip
_DEFAULTS_KEYS = (*_SETTING_KEYS, "standards")
_OVERRIDE_KEYS = ("match", *_SETTING_KEYS, "standards")
_MATCH_KEYS = ("agency", "service", "channel")
_TOP_KEYS = ("version", "defaults", "overrides", "benchmarks")
_BENCHMARK_KEYS = ("peer_by", "best_in_class")
PEER_GROUPINGS = ("service", "channel")
_SHORT_ID = re.compile(SHORT_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class Standard:
    """One resolved standard for one group.

    ``target`` is seconds for durations and a ratio in [0, 1] for rates. ``objective`` is the
    share of observations that must be within ``target`` (durations only; None for rates).
    ``direction`` says which side of ``target`` is good: durations and ``max`` rates are
    ``at_most``, ``min`` rates are ``at_least``.
    """

    name: str
    kind: Kind
    target: float
    objective: float | None
    direction: Direction
    minimum_sample: int
    at_risk_margin: float


class StandardsFileError(Exception):
    """The standards file cannot be used; ``str()`` is ``"<file>: <location>: <problem>"``."""

    def __init__(self, path: str | Path, location: str, problem: str) -> None:
        self.path = str(path)
        self.location = location
        self.problem = problem
        super().__init__(f"{self.path}: {location}: {problem}")


@dataclass(frozen=True, slots=True)
class _Layer:
    """``defaults`` or one override, validated but not yet merged."""

    match: dict[str, str]
    settings: dict[str, float]
    standards: dict[str, dict[str, float]]


@dataclass(frozen=True, slots=True)
class BenchmarkConfig:
    """Peer benchmarking: who counts as a peer, and best-in-class compliance per standard."""

    peer_by: str = "service"
    best_in_class: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StandardsConfig:
    """A validated standards file; ask it for the standards of one group with ``for_group``."""

    source: str
    defaults: _Layer
    overrides: tuple[_Layer, ...]
    benchmarks: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    _cache: dict[tuple[str, str, str], dict[str, Standard]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def for_group(self, agency: str, service: str, channel: str) -> dict[str, Standard]:
        """Standards that apply to one (agency, service, channel), keyed by standard name.

        Called per observation on the hot path, hence cached; the returned dict is shared, so
        callers must not mutate it.
        """
        key = (agency, service, str(channel))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._resolve(*key)
            self._cache[key] = cached
        return cached

    def repeat_contact_days(self, agency: str, service: str, channel: str) -> int:
        """Look-back for ``repeat_contact_rate`` in days; called when a case is opened."""
        return int(self._settings(agency, service, str(channel))["repeat_contact_days"])

    def silence_after_seconds(
        self, agency: str, service: str, channel: str, standard: str | None = None
    ) -> int:
        """Seconds without observations before a no-data alert (0: none): ``standard``'s own
        setting if any layer matching the group gives it one, else the group's."""
        if standard is not None:
            own = None
            for layer in [self.defaults, *self._matching(agency, service, str(channel))]:
                own = layer.standards.get(standard, {}).get(SILENCE_AFTER, own)
            if own is not None:
                return int(own)
        return int(self._settings(agency, service, str(channel))[SILENCE_AFTER])

    def _matching(self, agency: str, service: str, channel: str) -> list[_Layer]:
        group = {"agency": agency, "service": service, "channel": channel}
        hits = [
            (len(layer.match), index, layer)
            for index, layer in enumerate(self.overrides)
            if all(group[key] == value for key, value in layer.match.items())
        ]
        # Least specific first so that later (more specific) layers overwrite fields.
        return [layer for _, _, layer in sorted(hits, key=lambda hit: (hit[0], hit[1]))]

    def _settings(self, agency: str, service: str, channel: str) -> dict[str, float]:
        settings = dict(self.defaults.settings)
        for layer in self._matching(agency, service, channel):
            settings.update(layer.settings)
        return settings

    def _resolve(self, agency: str, service: str, channel: str) -> dict[str, Standard]:
        layers = [self.defaults, *self._matching(agency, service, channel)]
        settings: dict[str, float] = {}
        merged: dict[str, dict[str, float]] = {}
        for layer in layers:
            settings.update(layer.settings)
            for name, fields in layer.standards.items():
                merged.setdefault(name, {}).update(fields)
        resolved: dict[str, Standard] = {}
        for name in sorted(merged):
            spec = STANDARD_SPECS[name]
            fields = merged[name]
            resolved[name] = Standard(
                name=name,
                kind=spec.kind,
                target=float(fields[spec.target_key]),
                objective=float(fields["objective"]) if spec.kind == "duration" else None,
                direction=spec.direction,
                minimum_sample=int(settings["minimum_sample"]),
                at_risk_margin=float(settings["at_risk_margin"]),
            )
        return resolved


def load_standards(path: str | Path) -> StandardsConfig:
    """Read and validate a standards file; called once when the worker starts."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise StandardsFileError(
            path, "(file)", f"is not UTF-8 text (invalid byte at offset {err.start})"
        ) from None
    except OSError as err:
        raise StandardsFileError(path, "(file)", f"cannot read: {err.strerror or err}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = err.problem or err.context or "cannot be parsed"
        raise StandardsFileError(path, where, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as err:
        raise StandardsFileError(path, "(file)", f"invalid YAML: {err}") from None
    return parse_standards(data, str(path))


def parse_standards(data: object, source: str) -> StandardsConfig:
    """Validate an already-parsed document; ``source`` names it in error messages."""
    return _Parser(source).document(data)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys: PyYAML would silently keep the last one."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _shown(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind_of(value: object) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {_shown(value)}"
    if value is None:
        return "nothing"
    return _shown(value)


def _as_number(value: object) -> float | None:
    # YAML ``true`` is a bool, and bool is an int in Python; a flag is never a valid number here.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, location: str, problem: str) -> StandardsFileError:
        return StandardsFileError(self.source, location, problem)

    def mapping(self, value: object, location: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(location, f"must be a mapping (got {_kind_of(value)})")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(location, f"keys must be text (got {_shown(key)})")
            if key not in allowed:
                raise self.fail(
                    _join(location, key), f"unknown key (expected one of: {', '.join(allowed)})"
                )
        return dict(value)

    def document(self, data: object) -> StandardsConfig:
        if data is None:
            raise self.fail("(document)", "is empty; expected a mapping starting with 'version: 1'")
        top = self.mapping(data, "(document)", _TOP_KEYS)
        if "version" not in top:
            raise self.fail(
                "version", f"is required (this release reads version {SUPPORTED_VERSION})"
            )
        version = top["version"]
        if _as_number(version) != SUPPORTED_VERSION:
            raise self.fail(
                "version",
                f"unsupported version {_shown(version)} (this release reads version "
                f"{SUPPORTED_VERSION})",
            )
        defaults = self.layer(top.get("defaults", {}), "defaults", _DEFAULTS_KEYS, base=None)
        fallback = {
            "minimum_sample": FALLBACK_MINIMUM_SAMPLE,
            "at_risk_margin": FALLBACK_AT_RISK_MARGIN,
            "repeat_contact_days": FALLBACK_REPEAT_CONTACT_DAYS,
            "silence_after_seconds": FALLBACK_SILENCE_AFTER_SECONDS,
        }
        defaults = _Layer({}, {**fallback, **defaults.settings}, defaults.standards)
        raw_overrides = top.get("overrides", [])
        if raw_overrides is None:
            raw_overrides = []
        if not isinstance(raw_overrides, list):
            raise self.fail("overrides", f"must be a list (got {_kind_of(raw_overrides)})")
        overrides = tuple(
            self.layer(item, f"overrides[{index}]", _OVERRIDE_KEYS, base=defaults)
            for index, item in enumerate(raw_overrides)
        )
        self.distinct_matches(overrides)
        benchmarks = self.benchmarks(top.get("benchmarks", {}), "benchmarks")
        return StandardsConfig(self.source, defaults, overrides, benchmarks)

    def distinct_matches(self, overrides: tuple[_Layer, ...]) -> None:
        """Two overrides for the same groups would be resolved by file order alone: one of
        them silently does nothing, so the file is refused naming both."""
        first: dict[tuple[tuple[str, str], ...], int] = {}
        for index, layer in enumerate(overrides):
            match = tuple(sorted(layer.match.items()))
            if match in first:
                shown = ", ".join(f"{key}: {value}" for key, value in match) or "(empty)"
                raise self.fail(
                    f"overrides[{index}].match",
                    f"{{{shown}}} is the same match as overrides[{first[match]}]; "
                    "merge the two overrides into one",
                )
            first[match] = index

    def benchmarks(self, value: object, location: str) -> BenchmarkConfig:
        """``benchmarks: {peer_by: service|channel, best_in_class: {<standard>: <ratio>}}``;
        best-in-class values are compliance shares (higher is better for every standard)."""
        raw = self.mapping(value if value is not None else {}, location, _BENCHMARK_KEYS)
        peer_by = raw.get("peer_by", "service")
        if peer_by not in PEER_GROUPINGS:
            raise self.fail(
                _join(location, "peer_by"),
                f"must be one of {', '.join(PEER_GROUPINGS)} (got {_shown(peer_by)})",
            )
        targets_location = _join(location, "best_in_class")
        raw_targets = raw.get("best_in_class", {}) or {}
        if not isinstance(raw_targets, Mapping):
            raise self.fail(targets_location, f"must be a mapping (got {_kind_of(raw_targets)})")
        best: dict[str, float] = {}
        for name, target in raw_targets.items():
            if name not in STANDARD_SPECS:
                raise self.fail(
                    _join(targets_location, str(name)),
                    f"unknown standard (valid: {', '.join(STANDARD_NAMES)})",
                )
            best[str(name)] = self.ratio(target, _join(targets_location, str(name)))
        return BenchmarkConfig(str(peer_by), best)

    def layer(
        self, value: object, location: str, allowed: tuple[str, ...], base: _Layer | None
    ) -> _Layer:
        """Validate ``defaults`` (``base`` None) or one override (``base`` = the defaults)."""
        raw = self.mapping(value, location, allowed)
        match = self.match(raw, location) if base is not None else {}
        settings: dict[str, float] = {}
        if "minimum_sample" in raw:
            settings["minimum_sample"] = self.whole(
                raw["minimum_sample"], _join(location, "minimum_sample"), minimum=1
            )
        if "at_risk_margin" in raw:
            settings["at_risk_margin"] = self.ratio(
                raw["at_risk_margin"], _join(location, "at_risk_margin")
            )
        if "repeat_contact_days" in raw:
            settings["repeat_contact_days"] = self.whole(
                raw["repeat_contact_days"], _join(location, "repeat_contact_days"), minimum=1
            )
        if "silence_after_seconds" in raw:
            settings["silence_after_seconds"] = self.whole(
                raw["silence_after_seconds"], _join(location, "silence_after_seconds"), minimum=0
            )
        standards: dict[str, dict[str, float]] = {}
        standards_location = _join(location, "standards")
        raw_standards = raw.get("standards", {})
        if not isinstance(raw_standards, Mapping):
            raise self.fail(
                standards_location, f"must be a mapping (got {_kind_of(raw_standards)})"
            )
        for name, body in raw_standards.items():
            if name not in STANDARD_SPECS:
                raise self.fail(
                    _join(standards_location, str(name)),
                    f"unknown standard (valid: {', '.join(STANDARD_NAMES)})",
                )
            # A partial entry is fine only when the defaults already define the rest.
            complete = base is None or name not in base.standards
            standards[name] = self.standard(name, body, _join(standards_location, name), complete)
        return _Layer(match, settings, standards)

    def match(self, raw: dict[str, Any], location: str) -> dict[str, str]:
        where = _join(location, "match")
        if "match" not in raw:
            raise self.fail(where, "is required (any of: agency, service, channel)")
        match = self.mapping(raw["match"], where, _MATCH_KEYS)
        if not match:
            raise self.fail(where, "must name at least one of: agency, service, channel")
        result: dict[str, str] = {}
        for key, value in match.items():
            if key == "channel":
                valid = sorted(channel.value for channel in Channel)
                if value not in valid:
                    raise self.fail(
                        _join(where, key),
                        f"unknown channel {_shown(value)} (valid: {', '.join(valid)})",
                    )
            elif not isinstance(value, str) or not _SHORT_ID.match(value):
                raise self.fail(
                    _join(where, key),
                    f"must be a lowercase id as sent in events, e.g. ssa (got {_shown(value)})",
                )
            result[key] = str(value)
        return result

    def standard(self, name: str, body: object, location: str, complete: bool) -> dict[str, float]:
        spec = STANDARD_SPECS[name]
        allowed = ("target_seconds", "objective") if spec.kind == "duration" else (spec.target_key,)
        # page: false turns this standard's critical burn-rate alerts into tickets;
        # silence_after_seconds here wins over the group's for this standard.
        raw = self.mapping(body, location, (*allowed, "page", SILENCE_AFTER))
        fields: dict[str, float] = {}
        if "page" in raw:
            fields["page"] = self.flag(raw["page"], _join(location, "page"))
        if SILENCE_AFTER in raw:
            fields[SILENCE_AFTER] = self.whole(
                raw[SILENCE_AFTER], _join(location, SILENCE_AFTER), minimum=0
            )
        if "target_seconds" in raw:
            fields["target_seconds"] = self.seconds(
                raw["target_seconds"], _join(location, "target_seconds")
            )
        if "objective" in raw:
            fields["objective"] = self.ratio(raw["objective"], _join(location, "objective"))
        if spec.target_key in raw and spec.kind == "rate":
            fields[spec.target_key] = self.ratio(
                raw[spec.target_key], _join(location, spec.target_key)
            )
        if complete:
            for key in allowed:
                if key not in fields:
                    raise self.fail(_join(location, key), _missing_problem(name, key))
        return fields

    def ratio(self, value: object, location: str) -> float:
        number = _as_number(value)
        if number is None or not 0 <= number <= 1:
            raise self.fail(location, f"must be a number between 0 and 1 (got {_shown(value)})")
        return number

    def seconds(self, value: object, location: str) -> float:
        number = _as_number(value)
        if number is None or not number > 0:
            raise self.fail(location, f"must be a positive number of seconds (got {_shown(value)})")
        return number

    def flag(self, value: object, location: str) -> float:
        if not isinstance(value, bool):
            raise self.fail(location, f"must be true or false (got {_shown(value)})")
        return float(value)

    def whole(self, value: object, location: str, minimum: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.fail(
                location, f"must be a whole number of at least {minimum} (got {_shown(value)})"
            )
        return value


def _missing_problem(name: str, key: str) -> str:
    if key == "objective":
        return (
            "is required for duration standards: the share of cases that must meet "
            "target_seconds, e.g. 0.90"
        )
    if key == "target_seconds":
        return "is required for duration standards, e.g. 14400 for 4 hours"
    return f"is required for {name}: the {'highest' if key == 'max' else 'lowest'} acceptable ratio"


def _join(location: str, key: str) -> str:
    return key if location == "(document)" else f"{location}.{key}"
