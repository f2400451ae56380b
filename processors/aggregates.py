"""Mergeable aggregates for one standard over one pane, and their evaluation against it.

Two aggregators, in the shape of quix-streams' window aggregations: ``DurationAggregate`` and
``RateAggregate``, each with ``initialize`` / ``add`` / ``merge`` / ``result`` hooks that the
window engine calls (see each hook for when). ``aggregator_for(standard)`` picks one.

Both keep the same plain JSON state (``AggregateState``) so a Faust changelog table can hold it
and panes written before this split read back unchanged::

    {"count": 12, "hits": 0, "good": 11, "sum": 40210.0,
     "sketch": {"gamma": 1.0202..., "zero": 0, "bins": {"412": 3, "433": 9}}}

* rates use ``count`` and ``hits`` (e.g. abandoned cases); ``good``, ``sum`` and ``sketch``
  stay at their initial values;
* durations use ``count``, ``sum``, ``good`` (observations within the target) and a DDSketch
  (Masson et al., VLDB 2019) with relative accuracy 0.01: p50/p90/p99 are within 1% relative
  error of the exact quantile, whatever the distribution, and two sketches merge exactly.

The sketch is stored as its logarithmic mapping's ``gamma``, the count of zero durations and
the positive store's non-empty bins (bin key -> count), because DDSketch's own serialisation
needs protobuf. Merging adds bin counts, which is what ``DenseStore.merge`` does; quantiles are
read from the bins with DDSketch's own rank rule (a test checks them against the library).

Every hook returns a new state and leaves its arguments untouched.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from ddsketch.mapping import LogarithmicMapping

from servicepulse.processors.standards import Standard

RELATIVE_ACCURACY = 0.01
QUANTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99}

Status = Literal["met", "at_risk", "breached", "insufficient_data"]
Summary = dict[str, Any]

_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# Thresholds such as 0.8 * 1.1 come out as 0.8800000000000001; comparing at 12 decimals keeps
# a value exactly on a documented boundary on the documented side of it.
DECIMALS = 12


class SketchState(TypedDict):
    gamma: float
    zero: int
    bins: dict[str, int]


class AggregateState(TypedDict):
    """Observations of one standard in one pane (or the merge of a window's panes)."""

    count: int
    hits: int
    good: int
    sum: float
    sketch: SketchState | None


# -- thresholds ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where a standard's measured value (compliance for durations, the rate for rates) turns
    breached and at_risk, and on which side of them it is good. Statuses and alerts both
    judge a value with these, so a window's status and its alert always agree."""

    good_side: Literal["above", "below"]
    breached: float
    at_risk: float

    def toward_good(self, bound: float, relative: float) -> float:
        """``bound`` moved by ``relative`` of itself to the good side (a share caps at 1)."""
        return _toward_good(self.good_side, bound, relative)

    def is_bad(self, value: float, bound: float) -> bool:
        """True if ``value`` is strictly on the bad side of ``bound``, at 12 decimals."""
        if self.good_side == "above":
            return value < round(bound, DECIMALS)
        return value > round(bound, DECIMALS)


def thresholds(standard: Standard) -> Thresholds:
    """``at_most`` rates (``max``): breached above max, at_risk above max × (1 − margin);
    ``at_least`` rates (``min``) and duration objectives: breached below the bound, at_risk
    below min(bound × (1 + margin), 1)."""
    if standard.kind == "duration" or standard.direction == "at_least":
        bound = standard.objective if standard.kind == "duration" else standard.target
        if bound is None:
            raise ValueError(f"duration standard {standard.name!r} has no objective")
        good_side: Literal["above", "below"] = "above"
    else:
        bound, good_side = standard.target, "below"
    return Thresholds(good_side, bound, _toward_good(good_side, bound, standard.at_risk_margin))


def _toward_good(good_side: Literal["above", "below"], bound: float, relative: float) -> float:
    if good_side == "above":
        return min(bound * (1 + relative), 1.0)
    return bound * (1 - relative)


def evaluate_status(value: float | None, count: int, standard: Standard) -> Status:
    """Status of ``value`` against ``standard``; called when a window's summary is built.

    ``value`` is the compliance share for durations and the ratio itself for rates;
    ``count < minimum_sample`` (or no value) is insufficient_data. See ``thresholds``.
    """
    if value is None or count < standard.minimum_sample:
        return "insufficient_data"
    value = round(value, DECIMALS)
    bounds = thresholds(standard)
    if bounds.is_bad(value, bounds.breached):
        return "breached"
    if bounds.is_bad(value, bounds.at_risk):
        return "at_risk"
    return "met"


# -- aggregators --------------------------------------------------------------------------


class Aggregator(ABC):
    """The hooks the window engine calls for one standard; no I/O, no clock."""

    def __init__(self, standard: Standard) -> None:
        self.standard = standard

    def initialize(self) -> AggregateState:
        """Called when a pane receives its first observation of the standard, and as the
        start of a window's merge."""
        return {"count": 0, "hits": 0, "good": 0, "sum": 0.0, "sketch": None}

    @abstractmethod
    def add(self, state: AggregateState, value: float) -> AggregateState:
        """Called once per observation, for each pane it falls in."""

    @abstractmethod
    def merge(self, a: AggregateState, b: AggregateState) -> AggregateState:
        """Called when a window is read: the union of both inputs' observations."""

    def merge_all(self, states: Iterable[AggregateState]) -> AggregateState:
        """A window's aggregate from its panes; ``initialize()`` for none."""
        result = self.initialize()
        for state in states:
            result = self.merge(result, state)
        return result

    @abstractmethod
    def is_good(self, value: float) -> bool:
        """Whether one observation meets the standard (the SLI numerator)."""

    @abstractmethod
    def good_share(self, state: AggregateState) -> float | None:
        """Share of observations meeting the standard; None with no observation."""

    @abstractmethod
    def objective_ratio(self) -> float:
        """Required share of good observations (the SLO of burn-rate alerts)."""

    @abstractmethod
    def result(self, state: AggregateState) -> Summary:
        """Called when a window message is built: the JSON-ready summary of ``state``."""

    def _summary(self, state: AggregateState) -> Summary:
        standard = self.standard
        return {
            "standard": standard.name,
            "kind": standard.kind,
            "count": int(state["count"]),
            "target": standard.target,
            "objective": standard.objective,
            "compliance": self.good_share(state),
        }


class DurationAggregate(Aggregator):
    """Durations (e.g. time to first response): count, sum, within-target count, sketch.

    ``result``: ``value`` is the duration at the objective's quantile (e.g. p90 seconds for a
    90% objective, comparable with ``target``), ``compliance`` the share within target, plus
    mean, p50, p90 and p99 seconds; status compares compliance with the objective.
    """

    def add(self, state: AggregateState, value: float) -> AggregateState:
        # Clock skew between producers can make a duration slightly negative; it is "instant".
        seconds = max(0.0, float(value))
        base = state["sketch"] or _empty_sketch()
        sketch: SketchState = {"gamma": base["gamma"], "zero": base["zero"], "bins": base["bins"]}
        if seconds > _MAPPING.min_possible:
            bins = dict(sketch["bins"])
            key = str(_MAPPING.key(seconds))
            bins[key] = bins.get(key, 0) + 1
            sketch["bins"] = bins
        else:
            sketch["zero"] += 1
        return {
            **state,
            "count": state["count"] + 1,
            "sum": state["sum"] + seconds,
            "good": state["good"] + (1 if seconds <= self.standard.target else 0),
            "sketch": sketch,
        }

    def merge(self, a: AggregateState, b: AggregateState) -> AggregateState:
        return {
            "count": a["count"] + b["count"],
            "hits": a["hits"] + b["hits"],
            "good": a["good"] + b["good"],
            "sum": a["sum"] + b["sum"],
            "sketch": _merge_sketches(a["sketch"], b["sketch"]),
        }

    def is_good(self, value: float) -> bool:
        return value <= self.standard.target

    def good_share(self, state: AggregateState) -> float | None:
        count = state["count"]
        return float(state["good"] / count) if count else None

    def objective_ratio(self) -> float:
        assert self.standard.objective is not None
        return self.standard.objective

    def result(self, state: AggregateState) -> Summary:
        objective = self.objective_ratio()
        count = int(state["count"])
        result = self._summary(state)
        found = quantiles(state, [objective, *QUANTILES.values()])
        result.update(
            value=found[objective],
            mean=state["sum"] / count if count else None,
            **{name: found[q] for name, q in QUANTILES.items()},
        )
        result["status"] = evaluate_status(result["compliance"], count, self.standard)
        return result


class RateAggregate(Aggregator):
    """Rates (abandonment, CSAT 4–5, …): count and hits; an observation of 1.0 is a hit.

    ``result``: ``value`` = hits / count, ``compliance`` the share of observations meeting the
    standard (a hit for ``at_least``, not a hit for ``at_most``); status compares value with
    ``max``/``min``.
    """

    def add(self, state: AggregateState, value: float) -> AggregateState:
        return {**state, "count": state["count"] + 1, "hits": state["hits"] + _hit(value)}

    def merge(self, a: AggregateState, b: AggregateState) -> AggregateState:
        return {**a, "count": a["count"] + b["count"], "hits": a["hits"] + b["hits"]}

    def is_good(self, value: float) -> bool:
        return bool(_hit(value)) == (self.standard.direction == "at_least")

    def good_share(self, state: AggregateState) -> float | None:
        count = state["count"]
        if not count:
            return None
        hits = state["hits"] / count
        return float(hits if self.standard.direction == "at_least" else 1.0 - hits)

    def objective_ratio(self) -> float:
        target = self.standard.target
        return target if self.standard.direction == "at_least" else 1.0 - target

    def result(self, state: AggregateState) -> Summary:
        count = int(state["count"])
        value = state["hits"] / count if count else None
        result = self._summary(state)
        result.update(hits=int(state["hits"]), value=value)
        result["status"] = evaluate_status(value, count, self.standard)
        return result


def aggregator_for(standard: Standard) -> Aggregator:
    return DurationAggregate(standard) if standard.kind == "duration" else RateAggregate(standard)


def objective_ratio(standard: Standard) -> float:
    """Required share of good observations: the objective for durations, ``min`` for
    ``at_least`` rates and ``1 - max`` for ``at_most`` rates (the SLO of burn-rate alerts)."""
    return aggregator_for(standard).objective_ratio()


def _hit(value: float) -> int:
    return 1 if value >= 0.5 else 0


# -- the sketch ---------------------------------------------------------------------------


def _empty_sketch() -> SketchState:
    return {"gamma": _MAPPING.gamma, "zero": 0, "bins": {}}


def _merge_sketches(a: SketchState | None, b: SketchState | None) -> SketchState | None:
    if a is None or b is None:
        return a if b is None else b
    if not math.isclose(a["gamma"], b["gamma"], rel_tol=0, abs_tol=1e-12):
        # Same rule as DDSketch.merge: bins of different widths cannot be added.
        raise ValueError(f"cannot merge sketches with gamma {a['gamma']} and {b['gamma']}")
    bins = dict(a["bins"])
    for key, count in b["bins"].items():
        bins[key] = bins.get(key, 0) + count
    return {"gamma": a["gamma"], "zero": a["zero"] + b["zero"], "bins": bins}


def _mapping_of(sketch: SketchState) -> LogarithmicMapping:
    if math.isclose(sketch["gamma"], _MAPPING.gamma, rel_tol=0, abs_tol=1e-12):
        return _MAPPING
    return LogarithmicMapping.from_gamma_offset(sketch["gamma"], 0.0)


def quantile(state: AggregateState, q: float) -> float | None:
    """Duration at quantile ``q`` (0–1), within 1% relative error; None with no durations."""
    return quantiles(state, [q])[q]


def quantiles(state: AggregateState, qs: list[float]) -> dict[float, float | None]:
    """Several quantiles in one pass over the bins, with DDSketch's own rank rule (the value
    of the bin holding rank ``q × (count − 1)``), without rebuilding a sketch per quantile."""
    sketch = state["sketch"]
    total = state["count"]
    if sketch is None or total == 0:
        return {q: None for q in qs}
    mapping = _mapping_of(sketch)
    bins = sorted((int(key), count) for key, count in sketch["bins"].items())
    result: dict[float, float | None] = {}
    for q in qs:
        rank = q * (total - 1)
        if rank < sketch["zero"]:
            result[q] = 0.0
            continue
        running = sketch["zero"]
        value = None
        for key, count in bins:
            running += count
            if running > rank:
                value = float(mapping.value(key))
                break
        if value is None and bins:
            value = float(mapping.value(bins[-1][0]))
        result[q] = value
    return result
