"""Customer references: spot raw identifiers and replace them with keyed pseudonyms.

The contract says ``customer_ref`` is pseudonymous, but a producer may still send an e-mail
address, phone number or SSN. The stream edge calls :func:`protect_customer_ref` on every
reference before it is stored or joined, so raw identifiers never reach a table or topic.

A pseudonym is ``"p-"`` + the first 32 hex digits (128 bits) of HMAC-SHA256 under a secret
key, over a normalised form of the identifier, so the same person keeps one journey whatever
the spelling ("A@B.com " and "a@b.com"; "(202) 555-0143" and "+1 202 555 0143"), and
without the key the pseudonym cannot be reversed by hashing guessed identifiers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

PiiKind = Literal["email", "phone", "ssn"]
PREFIX = "p-"
HEX_DIGITS = 32

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$", re.A)
_SSN = re.compile(r"^(?!000|666|9\d\d)\d{3}([- ]?)(?!00)\d{2}\1(?!0000)\d{4}$", re.A)
# Phone: digits with the usual separators only, 10 digits (NANP) or 11 starting with 1, or an
# international number written with "+" (8–15 digits, E.164).
_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-]+$", re.A)


def _digits(value: str) -> str:
    return "".join(char for char in value if char.isascii() and char.isdigit())


def looks_like_raw_pii(customer_ref: str) -> PiiKind | None:
    """Which kind of raw identifier ``customer_ref`` is ("email", "phone", "ssn"), or None.

    Only whole-value matches count: an opaque id such as ``cust-2025-5550143`` is not a phone.
    A bare 9-digit value is treated as an SSN (it cannot be told apart from one, and treating
    it as PII only costs a pseudonym).
    """
    value = customer_ref.strip()
    if _EMAIL.match(value):
        return "email"
    if _SSN.match(value):
        return "ssn"
    if _PHONE_CHARS.match(value):
        digits = _digits(value)
        if value.startswith("+") and 8 <= len(digits) <= 15:
            return "phone"
        if len(digits) == 10 or (len(digits) == 11 and digits.startswith("1")):
            return "phone"
    return None


def _normalise(customer_ref: str, kind: PiiKind | None) -> str:
    value = customer_ref.strip()
    if kind == "email":
        return "email:" + value.lower()
    if kind == "phone":
        digits = _digits(value)
        if not value.startswith("+") and len(digits) == 10:
            digits = "1" + digits  # default country: US (+1)
        return "phone:+" + digits
    if kind == "ssn":
        return "ssn:" + _digits(value)
    return "ref:" + value


def pseudonymize(customer_ref: str, key: bytes) -> str:
    """``"p-"`` + 32 hex digits of HMAC-SHA256(key, normalised value). Stable for a key,
    different across keys; the kind is part of the hashed text so that an SSN and a phone
    number that share digits do not collide."""
    if not key:
        raise ValueError("pseudonym key must not be empty")
    message = _normalise(customer_ref, looks_like_raw_pii(customer_ref)).encode("utf-8")
    return PREFIX + hmac.new(key, message, hashlib.sha256).hexdigest()[:HEX_DIGITS]


def protect_customer_ref(customer_ref: str, key: bytes) -> str:
    """The reference to store: a pseudonym if ``customer_ref`` is a raw e-mail, phone or SSN,
    otherwise ``customer_ref`` unchanged (it is already the producer's pseudonym)."""
    if looks_like_raw_pii(customer_ref) is None:
        return customer_ref
    return pseudonymize(customer_ref, key)
