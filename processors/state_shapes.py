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
from servicepulse.processors.window_engine import Pane, PartitionEntry, WindowMeta


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


Check = Callable[[Any], str | None]


def mismatch(value: Any, hint: Any) -> str | None:
    """Why ``value`` (decoded JSON) does not have the type ``hint``, or None if it does."""
    return _checker(hint)(value)


def _is_null(value: Any) -> str | None:
    return None if value is None else _expected("null", value)


@cache
def _checker(hint: Any) -> Check:
    """The check of ``hint``, built once: restore runs it on every changelog record."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return lambda value: None
    if hint is float:  # type(), not isinstance: a bool is not a number here
        return lambda value: (
            None if type(value) in (float, int) and math.isfinite(value)
            else _expected("a finite number", value)
        )  # fmt: skip
    if hint is type(None):
        return _is_null
    if hint in (int, str, bool):
        exact, name = hint, _name(hint)
        return lambda value: None if type(value) is exact else _expected(name, value)
    if origin in (Union, types.UnionType):
        return _union([_checker(arm) for arm in args], " or ".join(map(_name, args)))
    if origin is Literal:
        allowed = frozenset(args)
        return lambda value: None if value in allowed else _expected(f"one of {args}", value)
    if is_typeddict(hint):
        return _typeddict(hint)
    if origin is list:
        return _array(_checker(args[0]))
    if origin is tuple:
        return _fixed_array([_checker(arm) for arm in args])
    if origin is dict:
        return _object(_checker(args[0]), _checker(args[1]))
    raise TypeError(f"no shape check for {hint!r}")


def _union(arms: list[Check], names: str) -> Check:
    def check(value: Any) -> str | None:
        if any(arm(value) is None for arm in arms):
            return None
        return _expected(names, value)

    if len(arms) == 2 and arms[1] is _is_null:  # X | None, the common union
        first = arms[0]
        return lambda value: (
            None if value is None or first(value) is None else _expected(names, value)
        )
    return check


def _array(element: Check) -> Check:
    def check(value: Any) -> str | None:
        if type(value) is not list:
            return _expected("an array", value)
        for index, item in enumerate(value):
            if (problem := element(item)) is not None:
                return _at(f"[{index}]", problem)
        return None

    return check


def _fixed_array(elements: list[Check]) -> Check:
    def check(value: Any) -> str | None:
        if type(value) is not list or len(value) != len(elements):
            return _expected(f"an array of {len(elements)}", value)
        for index, (item, element) in enumerate(zip(value, elements, strict=True)):
            if (problem := element(item)) is not None:
                return _at(f"[{index}]", problem)
        return None

    return check


def _object(key_check: Check, value_check: Check) -> Check:
    def check(value: Any) -> str | None:
        if type(value) is not dict:
            return _expected("an object", value)
        for key, item in value.items():
            if (problem := key_check(key)) is not None:
                return f"key {key!r:.40}: {problem}"
            if (problem := value_check(item)) is not None:
                return _at(f"[{key!r:.40}]", problem)
        return None

    return check


def _typeddict(shape: Any) -> Check:
    """Field by field: NotRequired unwrapped (typing.TypedDict on 3.11 counts a NotRequired
    field under postponed annotations as required), arrays refined (ARRAY_ELEMENTS)."""
    fields = []
    for name, hint in get_type_hints(shape, include_extras=True).items():
        optional = get_origin(hint) is NotRequired
        if optional:
            (hint,) = get_args(hint)
        fields.append((name, _checker(ARRAY_ELEMENTS.get((shape, name), hint)), optional))
    what = f"an object ({shape.__name__})"

    def check(value: Any) -> str | None:
        if type(value) is not dict:
            return _expected(what, value)
        for name, field_check, optional in fields:
            if name not in value:
                if optional:
                    continue
                return f"field {name!r} is missing"
            if (problem := field_check(value[name])) is not None:
                return _at(f".{name}", problem)
        return None

    return check


def _at(where: str, problem: str) -> str:
    """``problem`` found at ``where`` (a field or an index), as one path: .starts['300'][1]."""
    return f"{where}{problem}" if problem[0] in ".[" else f"{where} {problem}"


def _expected(what: str, value: Any) -> str:
    return f"expected {what}, got {value!r:.40}"


def _name(hint: Any) -> str:
    return "null" if hint is type(None) else str(getattr(hint, "__name__", hint))


# A table's check: (key, value) -> what is wrong with the value, or None. Called for values
# that are not None (None, a tombstone, deletes the key).
TableShape = Callable[[str, Any], str | None]


def value_of(shape: Any) -> TableShape:
    """A table whose every value has ``shape``, whatever its key."""
    return lambda key, value: mismatch(value, shape)


def window_panes(key: str, value: Any) -> str | None:
    """``w|<partition>`` holds a PartitionEntry (the partition's watermarks),
    ``m|<group>|<standard>`` a WindowMeta, ``p|<group>|<standard>|<pane>`` a Pane."""
    shape = {"w": PartitionEntry, "m": WindowMeta, "p": Pane}.get(key.split("|", 1)[0])
    if shape is None:
        return (f"key {key!r:.40} is neither a partition (w|…), a window meta (m|…) nor a "
                "pane (p|…) key")  # fmt: skip
    return mismatch(value, shape)


# ``pending|<window_end>``: the finals held for that end, standard -> group -> compliance.
PendingRound = dict[str, dict[str, float]]


def benchmark_latest(key: str, value: Any) -> str | None:
    """Keyed ``agency|service|channel|standard`` (a latest value; peer ranking splits the key
    into the four) or ``pending|<window_end>`` (the finals held for a round)."""
    if key.startswith("pending|") and key.count("|") == 1:
        return mismatch(value, PendingRound)
    if key.count("|") != 3:
        return f"key {key!r:.40} is neither agency|service|channel|standard nor pending|<end>"
    return mismatch(value, LatestCompliance)
