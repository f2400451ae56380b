"""Customer-reference protection: detection of raw identifiers and keyed pseudonyms."""

from __future__ import annotations

import re

import pytest

from servicepulse.processors.pseudonym import looks_like_raw_pii, protect_customer_ref, pseudonymize

KEY = b"test-key-0123456789"


@pytest.mark.parametrize(
    ("ref", "kind"),
    [
        ("jane.doe@example.com", "email"),
        (" A@B.com ", "email"),
        ("(202) 555-0143", "phone"),
        ("+1 202 555 0143", "phone"),
        ("2025550143", "phone"),
        ("+44 20 7946 0958", "phone"),
        ("123-45-6789", "ssn"),
        ("123456789", "ssn"),
        ("cust-000123", None),
        ("c-2025-5550143", None),
        ("p-0123456789abcdef0123456789abcdef", None),
        ("8f14e45f-ceea-167a-5a36-dedd4bea2543", None),
        ("12345", None),
    ],
)
def test_looks_like_raw_pii(ref: str, kind: str | None) -> None:
    assert looks_like_raw_pii(ref) == kind


def test_pseudonym_shape_and_stability() -> None:
    first = pseudonymize("jane@example.com", KEY)
    assert re.fullmatch(r"p-[0-9a-f]{32}", first)
    assert pseudonymize("jane@example.com", KEY) == first


def test_pseudonym_depends_on_the_key() -> None:
    assert pseudonymize("jane@example.com", KEY) != pseudonymize("jane@example.com", b"other")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("A@B.com ", "a@b.com"),
        ("(202) 555-0143", "+1 202 555 0143"),
        ("202.555.0143", "12025550143"),
        ("123-45-6789", "123 45 6789"),
        ("123456789", "123-45-6789"),
    ],
)
def test_normalisation(a: str, b: str) -> None:
    assert pseudonymize(a, KEY) == pseudonymize(b, KEY)


def test_kinds_do_not_collide() -> None:
    # Same digits, different kind of identifier.
    assert pseudonymize("+123456789", KEY) != pseudonymize("123456789", KEY)


def test_protect_only_replaces_raw_pii() -> None:
    assert protect_customer_ref("cust-42", KEY) == "cust-42"
    protected = protect_customer_ref("Jane@Example.com", KEY)
    assert protected == pseudonymize("jane@example.com", KEY)
    # Idempotent: a pseudonym is not raw PII.
    assert protect_customer_ref(protected, KEY) == protected


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError):
        pseudonymize("a@b.com", b"")
