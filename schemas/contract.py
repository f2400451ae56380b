"""The published JSON Schema contract (``schemas/json``), loaded for validation in Python.

Each schema has an absolute ``$id`` under :data:`BASE_URI` and the files ``$ref`` each other
by that ``$id``; :func:`registry` holds every file so those references resolve offline.

``pattern`` in JSON Schema is an ECMA-262 regular expression, where ``$`` matches only at the
very end of the string and ``\\d`` only ASCII digits. The ``jsonschema`` library evaluates it
with Python's ``re.search``, where ``$`` also matches before a final newline (so ``"dhs\\n"``
would pass ``^[a-z0-9]+$``) and ``\\d`` matches any Unicode digit. :func:`validator` therefore
evaluates ``pattern`` and ``patternProperties`` with ECMA-262 anchoring, as validators in
other languages do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR = Path(__file__).resolve().parent / "json"
BASE_URI = "https://servicepulse.dev/schemas/"


def load_schema(name: str) -> dict[str, Any]:
    """The schema file ``name`` (``"feedback.v1"`` or ``"feedback.v1.schema.json"``)."""
    path = SCHEMA_DIR / _file_name(name)
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def schema_names() -> list[str]:
    """Every published schema, by short name (``"feedback.v1"``, ...)."""
    return sorted(p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json"))


def registry() -> Registry[Any]:
    """A registry holding every schema in :data:`SCHEMA_DIR` under its ``$id``."""
    resources: list[tuple[str, Resource[Any]]] = []
    for name in schema_names():
        schema = load_schema(name)
        resources.append((schema["$id"], Resource.from_contents(schema, DRAFT202012)))
    built: Registry[Any] = Registry().with_resources(resources)
    return built.crawl()


def validator(name: str) -> Validator:
    """A draft 2020-12 validator for schema ``name``, with format assertion enabled.

    Same interface as :class:`jsonschema.Draft202012Validator` (``is_valid``,
    ``iter_errors``, ``validate``), with ECMA-262 semantics for ``pattern``.
    """
    return _ContractValidator(
        load_schema(name),
        registry=registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def check_schemas() -> None:
    """Raise :class:`jsonschema.exceptions.SchemaError` if any published schema is malformed."""
    for name in schema_names():
        Draft202012Validator.check_schema(load_schema(name))


def _file_name(name: str) -> str:
    return name if name.endswith(".schema.json") else f"{name}.schema.json"


@cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    """Compile an ECMA-262 pattern with Python ``re``: ``$`` outside a class becomes ``\\Z``."""
    out: list[str] = []
    in_class = False
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(char + next(chars, ""))
        elif char == "[" and not in_class:
            in_class = True
            out.append(char)
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        elif char == "$" and not in_class:
            out.append(r"\Z")
        else:
            out.append(char)
    return re.compile("".join(out), re.ASCII)


def _pattern(
    validator: Validator, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Validator, patterns: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _ecma_regex(pattern).search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


_ContractValidator = extend(
    Draft202012Validator,
    {"pattern": _pattern, "patternProperties": _pattern_properties},
)
