"""PII redaction for free-text feedback comments: typed placeholders such as ``[EMAIL]``.

``redact(text)`` finds personal identifiers with precompiled regular expressions plus checksum
or context tests, then replaces each span with ``[TYPE]``. It never raises: if detection ever
failed, the whole comment is withheld as ``[REDACTED]`` rather than passed on unredacted.

Detectors run in priority order and a later detector never claims text an earlier one already
claimed, which is why order matters: a URL carrying an e-mail in its query string is one
``[URL]``; a Luhn-valid card number is a card before any phone rule can split it; an SSN with
"SSN" context is an SSN before the passport rule sees nine digits.

Policy decisions (the labelled corpus ``tests/unit/data/pii_corpus.jsonl`` follows them):

* EMAIL includes obfuscated forms when the obfuscation is unambiguous: "(at)"/"[at]", a
  spelled-out "dot", or " at " followed by a consumer mail domain ("jane at gmail.com").
  "I looked at ssa.gov" is a website, not an address, and is kept.
* PHONE covers NANP numbers (area code 2–9xx) written with separators (also en dashes) or
  "+1", bare 10-digit runs only after phone words ("call", "cell", ...), and international
  numbers written with "+", "00" or "011". Toll-free numbers (800, 833, ... 888) and vanity
  numbers (1-800-FLOWERS) are published business lines and are kept, as are digit groups
  after "case", "order", "confirmation" and similar reference words.
* CARD needs 13–19 digits, a Luhn check and a card-network first digit (2–6): a 16-digit
  reference number that fails Luhn is not a card.
* SSN: 3-2-4 digits with one consistent separator, area not 000/666/9xx, group not 00,
  serial not 0000; nine bare digits only after "SSN" / "social security" wording.
* URL: only links that can carry a secret or identity (a query string, a fragment, user
  info, or a long token-like path segment, e.g. a password-reset link). Plain agency links
  such as https://www.ssa.gov/myaccount are kept because they say which service was meant.
* DATE_OF_BIRTH: a date within a few words after "born", "DOB", "date of birth", "birthday";
  other dates (dates of service) are kept.
* ADDRESS: a US street line ("4500 N Fairfax Drive Apt 2") or a PO box. City and state are
  kept (coarse geography is useful and low risk); ZIP only after a state code or "zip".
* A_NUMBER (USCIS alien number), PASSPORT, MEDICARE_ID (MBI format), IBAN (mod-97 checked)
  and IP (IPv4, IPv6) as named. USCIS receipt numbers (EAC2190012345) are case numbers.
* NAME is best effort: capitalised words after "my name is", "I am"/"I'm" (two capitalised
  words), "named", or an honorific (Mr., Ms., Dr., ...); the honorific itself is kept.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

# Comments are capped at 10,000 characters by the contract; this only bounds the work on a
# field that bypassed it (the whole text is still redacted, in chunks that overlap).
_CHUNK = 20_000
_CHUNK_OVERLAP = 200
WITHHELD = "[REDACTED]"


@dataclass(frozen=True, slots=True)
class Span:
    """One detected identifier: ``text[start:end]`` is of PII type ``type``."""

    start: int
    end: int
    type: str


@dataclass(frozen=True, slots=True)
class Redaction:
    """``text`` with every detected identifier replaced; ``counts`` per type (present only)."""

    text: str
    counts: dict[str, int]


Detector = Callable[[str], Iterator[tuple[int, int]]]

_A = re.ASCII
_AI = re.ASCII | re.IGNORECASE
_AIX = re.ASCII | re.IGNORECASE | re.VERBOSE
# Every pattern is compiled with re.ASCII, so its \d is this.
_DIGIT = re.compile(r"[0-9]")


def _before(text: str, start: int, pattern: re.Pattern[str], window: int) -> bool:
    """Whether ``pattern`` matches at the end of the ``window`` characters before ``start``."""
    return pattern.search(text, max(0, start - window), start) is not None


# ---- URL -------------------------------------------------------------------------------------

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'`]+", _AI)
_URL_TRAILING = ".,;:!?)]}'\""
_TOKEN_SEGMENT = re.compile(r"(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}")


def _urls(text: str) -> Iterator[tuple[int, int]]:
    for match in _URL.finditer(text):
        url = match.group().rstrip(_URL_TRAILING)
        rest = url.split("://", 1)[-1]
        host, _, path = rest.partition("/")
        secretive = (
            "?" in url
            or "#" in url
            or "@" in host
            or any(_TOKEN_SEGMENT.fullmatch(segment) for segment in path.split("/"))
        )
        if secretive:
            yield match.start(), match.start() + len(url)


# ---- EMAIL -----------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    r"\.[A-Za-z]{2,24}(?![\w-])",
    _A,
)
_AT = r"(?P<at>\s*[\[(\{]\s*at\s*[\])\}]\s*|\s+at\s+)"
_DOT = r"(?:\s*[\[(\{]\s*dot\s*[\])\}]\s*|\s+dot\s+|\.)"
_TLDS = r"(?:com|org|net|gov|edu|mil|us|io|info|biz|co|me|uk|ca)"
# Dot-separated parts are capped at 6 on each side: unbounded, "john dot john dot …" made
# every start position scan the rest of the comment (quadratic: seconds for one 9 KB comment).
_OBFUSCATED_EMAIL = re.compile(
    rf"(?<![\w.])(?P<local>[a-z0-9][a-z0-9_%+-]{{0,64}}(?:{_DOT}[a-z0-9_%+-]{{1,64}}){{0,6}}){_AT}"
    rf"(?P<domain>[a-z0-9-]{{1,63}}(?:{_DOT}[a-z0-9-]{{1,63}}){{0,6}}?){_DOT}{_TLDS}\b",
    _AI,
)
_SPELLED_DOT = re.compile(r"[\[(\{]\s*dot\s*[\])\}]|\sdot\s", _AI)
_MAIL_PROVIDERS = frozenset(
    {
        "gmail", "googlemail", "yahoo", "ymail", "hotmail", "outlook", "live", "msn", "aol",
        "icloud", "me", "mac", "comcast", "verizon", "att", "sbcglobal", "bellsouth", "cox",
        "charter", "earthlink", "protonmail", "proton", "gmx", "zoho", "mail", "fastmail",
    }
)  # fmt: skip


# Every obfuscated "at" has whitespace or a bracket on each side: without one, no match.
_AT_GATE = re.compile(r"[\s\[(\{]at[\s\])\}]", _AI)


def _emails(text: str) -> Iterator[tuple[int, int]]:
    if "@" in text:
        for match in _EMAIL.finditer(text):
            yield match.span()
    if _AT_GATE.search(text) is None:
        return
    for match in _OBFUSCATED_EMAIL.finditer(text):
        at = match.group("at").strip()
        first_label = re.split(r"\s|\.|[\[(\{]", match.group("domain").strip(), maxsplit=1)[0]
        unambiguous = (
            at.lower() != "at"
            or _SPELLED_DOT.search(match.group()) is not None
            or first_label.lower() in _MAIL_PROVIDERS
        )
        if unambiguous:
            yield match.span()


# ---- IBAN ------------------------------------------------------------------------------------

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", _A)


def _iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rotated = compact[4:] + compact[:4]
    digits = "".join(str(int(char, 36)) for char in rotated)
    return int(digits) % 97 == 1


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    for match in _IBAN.finditer(text):
        found = _longest_valid_prefix(match.group(), _iban_valid)
        if found:
            yield match.start(), match.start() + found


def _longest_valid_prefix(candidate: str, valid: Callable[[str], bool]) -> int:
    """Length of the longest prefix of ``candidate`` ending at a group boundary that is
    ``valid`` (0 if none): the pattern may have swallowed a following number, e.g. a CVV."""
    ends = [m.start() for m in re.finditer(r"[ -]", candidate)] + [len(candidate)]
    for end in sorted(ends, reverse=True):
        if valid(candidate[:end]):
            return end
    return 0


# ---- MEDICARE_ID (Medicare Beneficiary Identifier) -------------------------------------------

# MBI: 11 characters, no S, L, O, I, B, Z; positions 1,4,7,10,11 numeric, 2,5,8,9 alphabetic,
# 3 and 6 either; often written 1EG4-TE5-MK73.
_L = "[AC-HJKMNP-RT-Y]"
_N = "[AC-HJKMNP-RT-Y0-9]"
_MBI = re.compile(rf"\b[1-9]{_L}{_N}\d-?{_L}{_N}\d-?{_L}{_L}\d\d\b", _AI)


def _medicare_ids(text: str) -> Iterator[tuple[int, int]]:
    for match in _MBI.finditer(text):
        yield match.span()


# ---- CARD ------------------------------------------------------------------------------------

_CARD = re.compile(r"(?<![\w.-])[2-6]\d{3}(?:[ -]?\d){9,15}(?![\w])", _A)
_CARD_CONTEXT = re.compile(
    r"card|visa|master\s*card|amex|american express|discover|debit|credit", _AI
)
_REFERENCE_CONTEXT = re.compile(
    r"\b(?:case|claim|order|ref(?:erence)?|confirmation|conf|tracking|receipt|ticket|"
    r"application|invoice|account|acct|transaction|record|file|id|item|serial|model|"
    r"permit|license|form|ticket)\b[\s.:#-]*"
    r"(?:(?:number|no|num|id)\b[\s.:#-]*)?(?:is\s+|was\s+)?$",
    _AI,
)


def _luhn_card(candidate: str) -> bool:
    digits = [int(char) for char in candidate if char.isdigit()]
    if not 13 <= len(digits) <= 19 or not any(digits):
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _cards(text: str) -> Iterator[tuple[int, int]]:
    for match in _CARD.finditer(text):
        start = match.start()
        if _before(text, start, _REFERENCE_CONTEXT, 40) and not _before(
            text, start, _CARD_CONTEXT, 40
        ):
            continue
        found = _longest_valid_prefix(match.group(), _luhn_card)
        if found:
            yield start, start + found


# ---- SSN -------------------------------------------------------------------------------------

# A legacy Medicare number (HICN) is an SSN plus a letter suffix, so the suffix is included.
_SSN = re.compile(
    r"(?<![\w.-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?:[A-Z]\d?)?(?![\w-])",
    _A,
)
_SSN_BARE = re.compile(r"(?<![\w.-])(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}(?![\w-])", _A)
# The cue must be within a few words of the digits ("my SSN is", "social security number:").
_NEAR = r"(?:\W+(?:is|was|of|number|no|num|#|it's|its|:))*\W*$"
_SSN_CONTEXT = re.compile(rf"\b(?:ssn|ss#|ss\s*no|social(?:\s+security)?){_NEAR}", _AI)


def _ssns(text: str) -> Iterator[tuple[int, int]]:
    for match in _SSN.finditer(text):
        yield match.span()
    for match in _SSN_BARE.finditer(text):
        if _before(text, match.start(), _SSN_CONTEXT, 40):
            yield match.span()


# ---- A_NUMBER (USCIS alien registration number) and PASSPORT -----------------------------------

_A_NUMBER = re.compile(r"(?<![\w-])A(?:-|#\s?|\s)?\d{8,9}(?![\w-])", _A)
_A_NUMBER_BARE = re.compile(r"(?<![\w-])\d{8,9}(?![\w-])", _A)
_A_NUMBER_CONTEXT = re.compile(
    rf"\b(?:alien(?:\s+registration)?|a-number|a\s*#|uscis){_NEAR}",
    _AI,
)
_PASSPORT = re.compile(r"(?<![\w-])[A-Z]?\d{8,9}(?![\w-])", _AI)
_PASSPORT_CONTEXT = re.compile(rf"\bpassport(?:\s+(?:book|card))?{_NEAR}", _AI)


def _a_numbers(text: str) -> Iterator[tuple[int, int]]:
    for match in _A_NUMBER.finditer(text):
        yield match.span()
    for match in _A_NUMBER_BARE.finditer(text):
        if _before(text, match.start(), _A_NUMBER_CONTEXT, 30):
            yield match.span()


def _passports(text: str) -> Iterator[tuple[int, int]]:
    for match in _PASSPORT.finditer(text):
        if _before(text, match.start(), _PASSPORT_CONTEXT, 30):
            yield match.span()


# ---- DATE_OF_BIRTH ---------------------------------------------------------------------------

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE = re.compile(
    rf"""
    (?<![\w/.-])
    (?:
        (?:0?[1-9]|1[0-2])([/.-])(?:0?[1-9]|[12]\d|3[01])\1(?:19|20)?\d{{2}}
      | (?:19|20)\d{{2}}-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])
      | {_MONTH}\.?\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?,?\s+(?:19|20)\d{{2}}
      | (?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?,?\s+(?:19|20)\d{{2}}
    )
    (?![\w/-])
    """,
    _AIX,
)
_BIRTH_CONTEXT = re.compile(
    r"(?:\bborn\b|\bdob\b|\bd\.o\.b\b\.?|date\s+of\s+birth|\bbirth\s*date|\bbirthday)"
    r"(?:\W+\w+){0,3}\W*$",
    _AI,
)


def _dates_of_birth(text: str) -> Iterator[tuple[int, int]]:
    for match in _DATE.finditer(text):
        if _before(text, match.start(), _BIRTH_CONTEXT, 40):
            yield match.span()


# ---- IP --------------------------------------------------------------------------------------

_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?![\w]|\.\d)",
    _A,
)
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{0,4}|\d+(?:\.\d+){3})(?![\w:])", _AI
)
# Dotted numbers after these words are versions or outline numbers, not addresses.
_VERSION_CONTEXT = re.compile(
    r"\b(?:v|version|ver|release|build|section|sections|chapter|step|rule|item|para|"
    r"paragraph|clause|part|§)\s*\.?\s*$",
    _AI,
)


def _ips(text: str) -> Iterator[tuple[int, int]]:
    if _DIGIT.search(text) is not None:
        for match in _IPV4.finditer(text):
            if not _before(text, match.start(), _VERSION_CONTEXT, 12):
                yield match.span()
    if ":" not in text:
        return
    for match in _IPV6.finditer(text):
        candidate = match.group()
        # Clock times ("10:30:45") have no "::" and fewer than eight groups, so they fail here.
        groups = [group for group in candidate.split(":") if group]
        if ("::" in candidate or candidate.count(":") == 7) and len(groups) >= 2:
            try:
                ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            yield match.span()


# ---- PHONE -----------------------------------------------------------------------------------

_US_PHONE = re.compile(
    r"""
    (?<![\w+/.-])
    (?:\+?1[\s.\-–—]?)?
    (?:\((?P<area1>[2-9]\d\d)\)\s?|(?P<area2>[2-9]\d\d)[\s.\-–—])
    \d\d\d[\s.\-–—]\d{4}
    (?:\s?(?:ext\.?|extension|x)\s?\d{1,5})?
    (?![\w/-]|\.\d)
    """,
    _AIX,
)
_US_PHONE_COMPACT = re.compile(
    r"(?<![\w+/.-])(?P<plus>\+1)?(?P<area>[2-9]\d\d)[2-9]\d{6}(?![\w/-])", _A
)
_PHONE_CONTEXT = re.compile(
    r"\b(?:call|called|calling|phone|cell|mobile|tel|telephone|text|fax|reach|contact|dial|"
    r"ph|number)\b[^.\n]{0,20}$",
    _AI,
)
_TOLL_FREE = frozenset({"800", "833", "844", "855", "866", "877", "888"})
_INTL_PHONE = re.compile(
    r"(?<![\w+])(?:\+|\b00|\b011[\s.-]?)[1-9]\d{0,3}(?:[\s.-]?\(?\d{1,5}\)?){1,6}(?![\w])",
    _A,
)


def _phones(text: str) -> Iterator[tuple[int, int]]:
    for match in _US_PHONE.finditer(text):
        area = match.group("area1") or match.group("area2")
        if area in _TOLL_FREE or _before(text, match.start(), _REFERENCE_CONTEXT, 40):
            continue
        yield match.span()
    for match in _US_PHONE_COMPACT.finditer(text):
        if match.group("area") in _TOLL_FREE:
            continue
        if match.group("plus") or (
            _before(text, match.start(), _PHONE_CONTEXT, 30)
            and not _before(text, match.start(), _REFERENCE_CONTEXT, 40)
        ):
            yield match.span()
    if "+" in text or "00" in text:
        for match in _INTL_PHONE.finditer(text):
            end = _international_end(match.group())
            # +1 is NANP, handled above (where toll-free numbers are kept).
            nanp = re.match(r"(?:\+|00|011[\s.-]?)1", match.group()) is not None
            if end and not nanp and not _before(text, match.start(), _REFERENCE_CONTEXT, 40):
                yield match.start(), match.start() + end


def _international_end(candidate: str) -> int:
    """Length of the longest group-aligned prefix holding 8–15 digits (after any 00/011 exit
    code), or 0: a trailing number in the sentence must not make the phone invalid."""
    body = candidate[3:] if candidate.startswith("011") else candidate
    offset = len(candidate) - len(body)
    if body.startswith("00"):
        body, offset = body[2:], offset + 2
    ends = [m.start() for m in re.finditer(r"[\s.-]", body)] + [len(body)]
    for end in sorted(ends, reverse=True):
        digits = sum(char.isdigit() for char in body[:end])
        if 8 <= digits <= 15:
            return offset + len(body[:end].rstrip(" .-("))
    return 0


# ---- ADDRESS and ZIP -------------------------------------------------------------------------

_STREET_TYPES = (
    r"(?:street|st|avenue|ave|av|road|rd|boulevard|blvd|drive|dr|lane|ln|court|ct|way|"
    r"place|pl|terrace|ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl|pike|"
    r"loop|alley|aly|crescent|cres|row|plaza|plz|point|pt|run|path|walk|expressway|expy|"
    r"freeway|fwy|turnpike|tpke)"
)
_DIRECTION = r"(?:[NSEW]|N\.|S\.|E\.|W\.|NE|NW|SE|SW|North|South|East|West)"
_UNIT = (
    r"(?:,?\s+(?:apt|apartment|suite|ste|unit|fl|floor|rm|room|bldg|building|lot|\#)\.?\s*\#?"
    r"\s*[A-Z0-9][A-Z0-9-]{0,5}\b)?"
)
# Capitalised street names (any street type) ...
_ADDRESS = re.compile(
    rf"""
    (?<![\w,.$-])\d{{1,6}}(?:-?[A-Z])?
    \s+(?:{_DIRECTION}\s+)?
    (?:(?:[A-Z][a-zA-Z'.-]*|\d{{1,3}}(?:st|nd|rd|th))\s+){{1,4}}
    (?i:{_STREET_TYPES})\b\.?
    (?:\s+(?:NE|NW|SE|SW|N|S|E|W)\b)?
    (?i:{_UNIT})
    """,
    re.ASCII | re.VERBOSE,
)
# ... and lower-case ones, kept to the unambiguous street types and one or two name words.
_ADDRESS_LOWER = re.compile(
    r"(?<![\w,.$-])\d{1,6}\s+(?P<name>[a-z][a-z'-]+(?:\s+[a-z][a-z'-]+)?)\s+"
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|drive|dr|lane|ln)\b\.?" + _UNIT,
    _AI,
)
_NOT_STREET_WORDS = frozenset(
    {
        "the", "a", "an", "on", "in", "at", "of", "to", "and", "or", "for", "my", "our", "their",
        "his", "her", "more", "other", "hour", "hours", "minute", "minutes", "min", "mile",
        "miles", "day", "days", "week", "weeks", "month", "months", "year", "years", "time",
        "times", "long", "short", "hr", "hrs", "mi", "km", "block", "blocks", "way", "separate",
        "different", "trips", "trip", "round", "each", "back",
    }
)  # fmt: skip
_PO_BOX = re.compile(r"\b(?:P\.?\s?O\.?|post\s+office)\s+box\s+\d{1,6}\b", _AI)
# US state and territory codes (upper case only: "in 46204" is more likely prose).
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|"
    "NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP"
)
_ZIP_AFTER_STATE = re.compile(rf"\b(?:{_STATES}),?\s+(?P<zip>\d{{5}}(?:-\d{{4}})?)\b", _A)
_ZIP_AFTER_WORD = re.compile(
    r"\b(?:zip|zipcode|zip\s+code|postal\s+code)\b\W{0,3}(?:is\s+)?(?P<zip>\d{5}(?:-\d{4})?)\b",
    _AI,
)


def _addresses(text: str) -> Iterator[tuple[int, int]]:
    for match in _ADDRESS.finditer(text):
        yield match.span()
    for match in _ADDRESS_LOWER.finditer(text):
        words = match.group("name").lower().split()
        if not any(word in _NOT_STREET_WORDS for word in words):
            yield match.span()
    for match in _PO_BOX.finditer(text):
        yield match.span()


def _zips(text: str) -> Iterator[tuple[int, int]]:
    for pattern in (_ZIP_AFTER_STATE, _ZIP_AFTER_WORD):
        for match in pattern.finditer(text):
            yield match.span("zip")


# ---- NAME ------------------------------------------------------------------------------------

# O'Brien, McDonald, Smith-Jones; every repetition starts with a capital, so no backtracking
# blow-up on long lower-case runs.
_WORD = r"(?:[A-ZÀ-Þ]['’])?[A-ZÀ-Þ][a-zà-ÿ]+(?:['’-]?[A-ZÀ-Þ][a-zà-ÿ]+)*"
_NAMES = rf"(?P<name>{_WORD}(?:\s+{_WORD}){{0,2}})"
_ROLES = (
    r"daughter|son|husband|wife|mother|father|mom|dad|grandson|granddaughter|grandmother|"
    r"grandfather|sister|brother|aunt|uncle|niece|nephew|caseworker|case\s+worker|clerk|agent|"
    r"officer|representative|rep|supervisor|manager|nurse|counselor|adviser|advisor|"
    r"lawyer|attorney|caregiver|neighbor|friend|technician|examiner|specialist"
)
# Every match of the roles cue ends in a letter (whatever IGNORECASE matched, a letter), an
# optional comma, white space and a capitalised word, which three comments in four lack. The
# cue is a case-insensitive alternation tried at every word boundary: it cost more than the
# other four cues together (15.6 µs a comment against 8.4 gated, bench_comment_costs.py's
# comments), and this test costs 4 µs.
_CAPITALISED_AFTER_A_WORD = re.compile(r"[^\W\d_],?\s+[A-ZÀ-Þ](?:['’][A-ZÀ-Þ])?[a-zà-ÿ]")
# (pattern, fewest name words, a test every text it matches passes, or None): each cue is its
# own pattern so that one cue's match (e.g. "representative Ms") cannot hide another's
# ("Ms. Johnson") from ``finditer``.
_NAME_CUES: tuple[tuple[re.Pattern[str], int, re.Pattern[str] | None], ...] = (
    (re.compile(rf"\b(?:[Nn]ame\s+(?:is|was)|[Nn]ame\s*:|[Nn]amed|[Ss]igned,?)\s+{_NAMES}"), 1,
     None),
    (re.compile(rf"\b(?:I\s+am|I'm|I’m)\s+{_NAMES}"), 2, None),
    (re.compile(rf"\b(?:Mr|Mrs|Ms|Mx|Dr|Miss|Prof)\.?\s+{_NAMES}"), 1, None),
    (re.compile(rf"\b(?i:{_ROLES}),?\s+{_NAMES}"), 1, _CAPITALISED_AFTER_A_WORD),
    # "I, Margaret O'Brien, authorize ..."
    (re.compile(rf"\bI,\s+(?P<name>{_WORD}(?:\s+{_WORD}){{1,2}}),"), 2, None),
)  # fmt: skip
_NOT_NAME_WORDS = frozenset(
    {
        "The", "A", "An", "Very", "So", "Not", "Really", "Still", "Just", "Now", "Here", "Also",
        "Writing", "Calling", "Disappointed", "Happy", "Grateful", "Sorry", "Glad", "Retired",
        "Disabled", "Frustrated", "Thankful", "Unhappy", "Satisfied", "Extremely", "Totally",
        "Social", "Security", "Medicare", "Medicaid", "Office", "Department", "Veterans",
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "At",
        "On", "In", "And", "But", "Was", "Is", "Who", "She", "He", "They", "It", "Told",
        "Said", "Today", "Yesterday", "Please", "Thank", "Thanks", "Helped", "Called", "If",
        "When", "Then", "Our", "My", "Your", "This", "That", "From", "With", "For", "To",
        "Mr", "Mrs", "Ms", "Mx", "Dr", "Miss", "Prof", "Of", "Services", "Service", "Agency",
        "Center", "Desk", "Line", "Team", "Support", "Help", "Never", "Always", "Has", "Had",
        "Did", "Does", "Could", "Would", "Should", "Will", "Can", "Number", "Name", "Card",
        # Place-name starts: "I am New Jersey born" names a state, not a person.
        "New", "North", "South", "East", "West", "San", "Santa", "Los", "Las", "Saint", "Fort",
        "Port", "United", "States", "American", "Native", "Puerto",
    }
)  # fmt: skip


def _names(text: str) -> Iterator[tuple[int, int]]:
    for pattern, fewest, gate in _NAME_CUES:
        if gate is not None and gate.search(text) is None:
            continue
        for match in pattern.finditer(text):
            kept: list[re.Match[str]] = []
            for word in re.finditer(r"\S+", match.group("name")):
                if word.group() in _NOT_NAME_WORDS:
                    break
                kept.append(word)
            if len(kept) >= fewest:
                yield match.start("name"), match.start("name") + kept[-1].end()


# ---- driver ----------------------------------------------------------------------------------

# Priority order: earlier detectors win overlaps (see the module docstring). The flag: every
# pattern of the detector needs an ASCII digit (all are compiled with re.ASCII), so a text
# without one is not scanned by it; most comments have none, and each scan costs 1-6 µs.
DETECTORS: tuple[tuple[str, Detector, bool], ...] = (
    ("URL", _urls, False),
    ("EMAIL", _emails, False),
    ("IBAN", _ibans, True),
    ("MEDICARE_ID", _medicare_ids, True),
    ("CARD", _cards, True),
    ("SSN", _ssns, True),
    ("A_NUMBER", _a_numbers, True),
    ("PASSPORT", _passports, True),
    ("DATE_OF_BIRTH", _dates_of_birth, True),
    ("IP", _ips, False),  # an IPv6 address may be all hex letters
    ("PHONE", _phones, True),
    ("ADDRESS", _addresses, True),
    ("ZIP", _zips, True),
    ("NAME", _names, False),
)
PII_TYPES: tuple[str, ...] = tuple(name for name, _, _ in DETECTORS)


def detect(text: str) -> list[Span]:
    """Every identifier found in ``text``, non-overlapping, in text order."""
    if len(text) > _CHUNK:
        return _detect_chunked(text)
    has_digit = _DIGIT.search(text) is not None
    return claim_spans(text, ((pii_type, detector) for pii_type, detector, needs_digit
                              in DETECTORS if has_digit or not needs_digit))  # fmt: skip


def claim_spans(text: str, detectors: Iterable[tuple[str, Detector]]) -> list[Span]:
    """What ``detectors`` find in ``text``, in text order; each claims only text no earlier
    one claimed (``detect`` passes ``DETECTORS`` less those that cannot match)."""
    taken: list[Span] = []
    for pii_type, detector in detectors:
        for start, end in detector(text):
            if end > start and not any(s.start < end and start < s.end for s in taken):
                taken.append(Span(start, end, pii_type))
    return sorted(taken, key=lambda span: span.start)


def _detect_chunked(text: str) -> list[Span]:
    found: list[Span] = []
    step = _CHUNK - _CHUNK_OVERLAP
    for offset in range(0, len(text), step):
        for span in detect(text[offset : offset + _CHUNK]):
            shifted = Span(span.start + offset, span.end + offset, span.type)
            if not any(s.start < shifted.end and shifted.start < s.end for s in found):
                found.append(shifted)
    return sorted(found, key=lambda span: span.start)


def redact(text: str) -> Redaction:
    """``text`` with identifiers replaced by ``[TYPE]``; called on every comment before it is
    stored, scored or published. Never raises (an internal failure withholds the text)."""
    try:
        spans = detect(text)
        parts: list[str] = []
        counts: dict[str, int] = {}
        cursor = 0
        for span in spans:
            parts.append(text[cursor : span.start])
            parts.append(f"[{span.type}]")
            counts[span.type] = counts.get(span.type, 0) + 1
            cursor = span.end
        parts.append(text[cursor:])
        return Redaction("".join(parts), counts)
    except Exception:  # fail closed: never pass on text that could not be checked
        return Redaction(WITHHELD, {"WITHHELD": 1})
