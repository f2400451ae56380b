"""Mergeable aggregate for one standard over one pane, and its evaluation against a standard.

State is a plain JSON-serialisable dict so a Faust changelog table can hold it::

    {"count": 12, "hits": 0, "good": 11, "sum": 40210.0,
     "sketch": {"gamma": 1.0202..., "zero": 0, "bins": {"412": 3, "433": 9}}}

* rates use ``count`` and ``hits`` (e.g. abandoned cases);
* durations use ``count``, ``sum``, ``good`` (observations within the target) and a DDSketch
  (Masson et al., VLDB 2019) with relative accuracy 0.01: p50/p90/p99 are within 1% relative
  error of the exact quantile, whatever the distribution, and two sketches merge exactly.

The sketch is stored as its logarithmic mapping's ``gamma``, the count of zero durations and
the positive store's non-empty bins (bin key -> count), because DDSketch's own serialisation
needs protobuf. Merging adds bin counts, which is what ``DenseStore.merge`` does; quantiles are
read by rebuilding a ``ddsketch`` sketch from the bins.

Every function returns a new dict and leaves its arguments untouched.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from ddsketch.ddsketch import BaseDDSketch
from ddsketch.mapping import LogarithmicMapping
from ddsketch.store import DenseStore

from servicepulse.processors.standards import Standard

RELATIVE_ACCURACY = 0.01
QUANTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99}

Aggregate = dict[str, Any]
Status = Literal["met", "at_risk", "breached", "insufficient_data"]

_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# Thresholds such as 0.8 * 1.1 come out as 0.8800000000000001; comparing at 12 decimals keeps
# a value exactly on a documented boundary on the documented side of it.
_DECIMALS = 12


def empty() -> Aggregate:
    """A fresh aggregate; called when a pane receives its first observation for a standard."""
    return {"count": 0, "hits": 0, "good": 0, "sum": 0.0, "sketch": None}


def _empty_sketch() -> dict[str, Any]:
    return {"gamma": _MAPPING.gamma, "zero": 0, "bins": {}}


def add_duration(state: Aggregate, seconds: float, target: float) -> Aggregate:
    """Record one duration observation (e.g. time to first response) against ``target``."""
    # Clock skew between producers can make a duration slightly negative; it is "instant".
    seconds = max(0.0, float(seconds))
    sketch = dict(state["sketch"] or _empty_sketch())
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
        "good": state["good"] + (1 if seconds <= target else 0),
        "sketch": sketch,
    }


def add_rate(state: Aggregate, hit: bool) -> Aggregate:
    """Record one rate observation; ``hit`` is the counted outcome (abandoned, 4–5 score, …)."""
    return {**state, "count": state["count"] + 1, "hits": state["hits"] + (1 if hit else 0)}


def merge(a: Aggregate, b: Aggregate) -> Aggregate:
    """Aggregate of the union of both inputs' observations (panes -> window)."""
    return {
        "count": a["count"] + b["count"],
        "hits": a["hits"] + b["hits"],
        "good": a["good"] + b["good"],
        "sum": a["sum"] + b["sum"],
        "sketch": _merge_sketches(a["sketch"], b["sketch"]),
    }


def merge_all(states: list[Aggregate]) -> Aggregate:
    """Merge of any number of aggregates; ``empty()`` for none."""
    result = empty()
    for state in states:
        result = merge(result, state)
    return result


def _merge_sketches(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    if a is None or b is None:
        return a if b is None else b
    if not math.isclose(a["gamma"], b["gamma"], rel_tol=0, abs_tol=1e-12):
        # Same rule as DDSketch.merge: bins of different widths cannot be added.
        raise ValueError(f"cannot merge sketches with gamma {a['gamma']} and {b['gamma']}")
    bins = dict(a["bins"])
    for key, count in b["bins"].items():
        bins[key] = bins.get(key, 0) + count
    return {"gamma": a["gamma"], "zero": a["zero"] + b["zero"], "bins": bins}


def to_ddsketch(sketch: dict[str, Any]) -> BaseDDSketch:
    """Rebuild a ``ddsketch`` sketch (positive values only) from the stored form.

    Only the bins are restored: the library's count/quantile methods use them, while its
    min/max/sum bookkeeping is not kept (``sum`` lives in the aggregate itself).
    """
    mapping = (
        _MAPPING
        if math.isclose(sketch["gamma"], _MAPPING.gamma, rel_tol=0, abs_tol=1e-12)
        else LogarithmicMapping.from_gamma_offset(sketch["gamma"], 0.0)
    )
    store = DenseStore()
    for key, count in sorted(sketch["bins"].items(), key=lambda item: int(item[0])):
        store.add(int(key), float(count))
    return BaseDDSketch(mapping, store, DenseStore(), float(sketch["zero"]))


def quantile(state: Aggregate, q: float) -> float | None:
    """Duration at quantile ``q`` (0–1), within 1% relative error; None with no durations."""
    return quantiles(state, [q])[q]


def quantiles(state: Aggregate, qs: list[float]) -> dict[float, float | None]:
    """Several quantiles in one pass over the bins, with DDSketch's own rank rule (the value
    of the bin holding rank ``q × (count − 1)``), without rebuilding a sketch per quantile."""
    sketch = state["sketch"]
    total = state["count"]
    if sketch is None or total == 0:
        return {q: None for q in qs}
    mapping = (
        _MAPPING
        if math.isclose(sketch["gamma"], _MAPPING.gamma, rel_tol=0, abs_tol=1e-12)
        else LogarithmicMapping.from_gamma_offset(sketch["gamma"], 0.0)
    )
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


def evaluate_status(value: float | None, count: int, standard: Standard) -> Status:
    """Status of ``value`` against ``standard``; called when a window's summary is built.

    ``value`` is the compliance share for durations and the ratio itself for rates.

    * ``count < minimum_sample`` (or no value): insufficient_data;
    * ``at_most`` rates (``max``): breached if value > max, at_risk if value > max × (1 − margin);
    * ``at_least`` rates (``min``) and duration objectives: breached if value < bound,
      at_risk if value < min(bound × (1 + margin), 1).
    """
    if value is None or count < standard.minimum_sample:
        return "insufficient_data"
    value = round(value, _DECIMALS)
    margin = standard.at_risk_margin
    if standard.kind == "duration" or standard.direction == "at_least":
        bound = standard.objective if standard.kind == "duration" else standard.target
        if bound is None:
            raise ValueError(f"duration standard {standard.name!r} has no objective")
        if value < round(bound, _DECIMALS):
            return "breached"
        if value < round(min(bound * (1 + margin), 1.0), _DECIMALS):
            return "at_risk"
        return "met"
    if value > round(standard.target, _DECIMALS):
        return "breached"
    if value > round(standard.target * (1 - margin), _DECIMALS):
        return "at_risk"
    return "met"


def good_share(state: Aggregate, standard: Standard) -> float | None:
    """Share of observations meeting the standard: within target (durations), a hit for
    ``at_least`` rates, not a hit for ``at_most`` rates (e.g. a case not abandoned)."""
    count = state["count"]
    if not count:
        return None
    if standard.kind == "duration":
        return float(state["good"] / count)
    hits = state["hits"] / count
    return float(hits if standard.direction == "at_least" else 1.0 - hits)


def is_good(standard: Standard, value: float) -> bool:
    """Whether one observation meets its standard (the SLI numerator)."""
    if standard.kind == "duration":
        return value <= standard.target
    return (value >= 0.5) if standard.direction == "at_least" else (value < 0.5)


def objective_ratio(standard: Standard) -> float:
    """Required share of good observations: the objective for durations, ``min`` for
    ``at_least`` rates and ``1 - max`` for ``at_most`` rates (the SLO of burn-rate alerts)."""
    if standard.kind == "duration":
        assert standard.objective is not None
        return standard.objective
    return standard.target if standard.direction == "at_least" else 1.0 - standard.target


def summary(state: Aggregate, standard: Standard) -> dict[str, Any]:
    """JSON-ready result of one window for one standard; called when a window is emitted.

    Durations: ``value`` is the duration at the objective's quantile (e.g. p90 seconds for a
    90% objective, comparable with ``target``), ``compliance`` the share within target, plus
    mean, p50, p90 and p99 seconds; status compares compliance with the objective. Rates:
    ``value`` = hits / count, ``compliance`` the share of observations meeting the standard;
    status compares value with ``max``/``min``.
    """
    count = int(state["count"])
    compliance = good_share(state, standard)
    result: dict[str, Any] = {
        "standard": standard.name,
        "kind": standard.kind,
        "count": count,
        "target": standard.target,
        "objective": standard.objective,
        "compliance": compliance,
    }
    if standard.kind == "duration":
        assert standard.objective is not None
        found = quantiles(state, [standard.objective, *QUANTILES.values()])
        result.update(
            value=found[standard.objective],
            mean=state["sum"] / count if count else None,
            **{name: found[q] for name, q in QUANTILES.items()},
        )
        result["status"] = evaluate_status(compliance, count, standard)
    else:
        value = state["hits"] / count if count else None
        result.update(hits=int(state["hits"]), value=value)
        result["status"] = evaluate_status(value, count, standard)
    return result
