"""The shape of every changelog value: what a table may restore.

A changelog is input too. A record there that is valid JSON but not a value servicepulse wrote
(a number where a case belongs, a window meta entry without its watermark) would make every
event of its key fail, or every timer pass over the table: the original finding was
``score-feedback`` failing on every event (0 of 40 scored) after one such record. The stream
edge (streams.topology gives each table its check, streams.restore runs it on every changelog
record) skips the records a check names.

The shapes are the TypedDicts the flows write, followed field by field (a JSON number stands
for a ``float`` and must be finite; an ``int`` must be integral; extra fields are allowed, as a
newer writer may add some), with the element types of the JSON arrays their annotations leave
as ``Any``. Pure: no Faust, no clock.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from functools import cache
from typing import (
    Any,
    Literal,
    NotRequired,
    TypedDict,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

from servicepulse.processors.cases import Case, History
from servicepulse.processors.journeys import Journey
from servicepulse.processors.window_engine import Pane, WindowMeta


class SeenId(TypedDict):
    """``feedback-seen-event-ids``: when an event_id was first seen, in which partition."""

    seen: float
    p: int


class CustomerEntry(TypedDict):
    """``customers``: one customer's journey and recent case openings."""

    journey: Journey | None
    contacts: History | None
    p: NotRequired[int]


class LatestCompliance(TypedDict):
    """``benchmark-latest``: a group's latest final compliance and its window end."""

    compliance: float
    at: str


class PublicDay(TypedDict):
    """``public-days``: one agency|service|day's parts, ``channel|standard`` -> [count, good]."""

    p: int
    end: float
    parts: dict[str, tuple[int, int]]


# The JSON arrays the TypedDicts leave as list[Any]: their elements, as the flows index them.
ARRAY_ELEMENTS: dict[tuple[type, str], Any] = {
    (Case, "transfers"): list[tuple[float, str | None, str | None]],  # at, to_agency, to_service
    (History, "contacts"): list[tuple[float, str, str, str | None]],  # at, agency, service, case
    (Journey, "openings"): list[tuple[float, str, str]],  # at, need, case_id
}


def mismatch(value: Any, hint: Any) -> str | None:
    """Why ``value`` (decoded JSON) does not have the type ``hint``, or None if it does."""
    origin = get_origin(hint)
    if hint is Any:
        return None
    if hint is float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return None if number and math.isfinite(value) else _expected("a finite number", value)
    if hint in (int, str, bool):
        exact = isinstance(value, hint) and (hint is bool or not isinstance(value, bool))
        return None if exact else _expected(hint.__name__, value)
    if hint is type(None):
        return None if value is None else _expected("null", value)
    if origin in (Union, types.UnionType):
        arms = get_args(hint)
        if any(mismatch(value, arm) is None for arm in arms):
            return None
        return _expected(" or ".join(_name(arm) for arm in arms), value)
    if origin is Literal:
        return None if value in get_args(hint) else _expected(f"one of {get_args(hint)}", value)
    if is_typeddict(hint):
        return _typeddict_mismatch(value, hint)
    if origin is list:
        if not isinstance(value, list):
            return _expected("an array", value)
        return _first((f"[{i}]", item, get_args(hint)[0]) for i, item in enumerate(value))
    if origin is tuple:
        wanted = get_args(hint)
        if not isinstance(value, list) or len(value) != len(wanted):
            return _expected(f"an array of {len(wanted)}", value)
        pairs = enumerate(zip(value, wanted, strict=True))
        return _first((f"[{i}]", item, arm) for i, (item, arm) in pairs)
    if origin is dict:
        key_hint, value_hint = get_args(hint)
        if not isinstance(value, dict):
            return _expected("an object", value)
        for key in value:
            if (problem := mismatch(key, key_hint)) is not None:
                return f"key {key!r:.40}: {problem}"
        return _first((f"[{key!r:.40}]", item, value_hint) for key, item in value.items())
    raise TypeError(f"no shape check for {hint!r}")


def _typeddict_mismatch(value: Any, shape: Any) -> str | None:
    if not isinstance(value, dict):
        return _expected(f"an object ({shape.__name__})", value)
    for name, hint, optional in _fields(shape):
        if name not in value:
            if optional:
                continue
            return f"field {name!r} is missing"
        if (problem := mismatch(value[name], hint)) is not None:
            return _at(f".{name}", problem)
    return None


@cache
def _fields(shape: Any) -> list[tuple[str, Any, bool]]:
    """(name, hint, optional) of each field: NotRequired unwrapped (typing.TypedDict on 3.11
    counts a NotRequired field under postponed annotations as required), arrays refined."""
    fields = []
    for name, hint in get_type_hints(shape, include_extras=True).items():
        optional = get_origin(hint) is NotRequired
        if optional:
            (hint,) = get_args(hint)
        fields.append((name, ARRAY_ELEMENTS.get((shape, name), hint), optional))
    return fields


def _first(items: Any) -> str | None:
    for where, item, hint in items:
        if (problem := mismatch(item, hint)) is not None:
            return _at(where, problem)
    return None


def _at(where: str, problem: str) -> str:
    """``problem`` found at ``where`` (a field or an index), as one path: .starts['300'][1]."""
    return f"{where}{problem}" if problem[0] in ".[" else f"{where} {problem}"


def _expected(what: str, value: Any) -> str:
    return f"expected {what}, got {value!r:.40}"


def _name(hint: Any) -> str:
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


# A table's check: (key, value) -> what is wrong with the value, or None. Called for values
# that are not None (None, a tombstone, deletes the key).
TableShape = Callable[[str, Any], str | None]


def value_of(shape: Any) -> TableShape:
    """A table whose every value has ``shape``, whatever its key."""
    return lambda key, value: mismatch(value, shape)


def window_panes(key: str, value: Any) -> str | None:
    """``m|<group>|<standard>`` holds a WindowMeta, ``p|<group>|<standard>|<pane>`` a Pane."""
    shape = {"m": WindowMeta, "p": Pane}.get(key.split("|", 1)[0])
    if shape is None:
        return f"key {key!r:.40} is neither a window meta (m|…) nor a pane (p|…) key"
    return mismatch(value, shape)


def benchmark_latest(key: str, value: Any) -> str | None:
    """Keyed ``agency|service|channel|standard``: peer ranking splits the key into the four."""
    if key.count("|") != 3:
        return f"key {key!r:.40} is not agency|service|channel|standard"
    return mismatch(value, LatestCompliance)
