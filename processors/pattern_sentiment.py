"""TextBlob's PatternAnalyzer polarity and subjectivity, bit for bit, about 5x faster.

``TextBlob(text).sentiment`` spends most of its time outside the scoring rule: building the
blob, a lazily loaded dictionary that re-checks whether it is loaded on every word lookup, two
large regular expressions (emoticons, sarcasm) over every sentence, and dictionaries per
assessed word. This module keeps the rule and the data and drops the overhead:

* the lexicon is TextBlob's own (``textblob.en.sentiment``, loaded from the installed package's
  ``en-sentiment.xml`` at first use), flattened to one tuple per word;
* the tokenizer is Pattern's ``find_tokens`` without its sentence split. The split only matters
  to the emoticon and sarcasm rewrites, which change nothing unless the text holds a spaced
  form (``": )"``, ``"( ! )"``); for those texts TextBlob's own tokenizer is called;
* the assessment loop is Pattern's ``Sentiment.assessments``, statement for statement, on
  lists instead of dictionaries, and the averages add in the same order, so the floats are the
  same bits (tests/unit/test_pattern_sentiment.py checks >= 100,000 varied texts).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any, NamedTuple

from textblob import _text as pattern
from textblob.en import sentiment as textblob_sentiment

_EOS = pattern.EOS
_PUNCTUATION = pattern.PUNCTUATION
_LEADING = tuple(_PUNCTUATION.replace(".", ""))
_TRAILING = (*_LEADING, ".")
_LEADING_CHARS = frozenset(_LEADING)
_TRAILING_CHARS = frozenset(_TRAILING)
_ABBREVIATIONS = pattern.ABBREVIATIONS
_RE_ABBR = (pattern.RE_ABBR1, pattern.RE_ABBR2, pattern.RE_ABBR3)
_REPLACEMENTS = tuple(pattern.replacements.items())
_RE_LINEBREAK = re.compile(r"\n{2,}")
_RE_SPACES = re.compile(r"\s+")
_QUOTES = (("“", " “ "), ("”", " ” "), ("‘", " ‘ "), ("’", " ’ "), ("'", " ' "), ('"', ' " '))
_NEGATIONS = textblob_sentiment.negations
_MODIFIERS = textblob_sentiment.modifiers


def _spaced_rewrite_pattern() -> re.Pattern[str]:
    """Finds text the sentence-level rewrites would change: an emoticon or "(!)" written with
    a space between two of its characters (Pattern's patterns allow one there)."""
    pairs = {
        emoticon[k : k + 2]
        for emoticons in pattern.EMOTICONS.values()
        for emoticon in emoticons
        for k in range(len(emoticon) - 1)
    }
    spaced = sorted(re.escape(f"{pair[0]} {pair[1]}") for pair in pairs | {"(!", "!)"})
    return re.compile("|".join(spaced))


_RE_SPACED_REWRITE = _spaced_rewrite_pattern()


def _emoticon_polarities() -> dict[str, float]:
    """Lower-cased emoticon -> polarity of the first mood that lists it (Pattern's order)."""
    polarities: dict[str, float] = {}
    for (_mood, polarity), emoticons in pattern.EMOTICONS.items():
        for emoticon in emoticons:
            polarities.setdefault(emoticon.lower(), polarity)
    return polarities


_EMOTICONS = _emoticon_polarities()


class _Word(NamedTuple):
    polarity: float
    subjectivity: float
    intensity: float
    modifies: bool  # a known adverb: scales the next known word


@cache
def _lexicon() -> dict[str, _Word]:
    """TextBlob's sentiment lexicon as the analyzer reads it for plain text (no POS tag)."""
    if dict.__len__(textblob_sentiment) == 0:
        textblob_sentiment.load()
    lexicon: dict[str, _Word] = {}
    for word, senses in dict.items(textblob_sentiment):
        if None in senses:
            p, s, i = senses[None]
            modifies = any(tag in senses for tag in _MODIFIERS)
            lexicon[word] = _Word(p, s, i, modifies)
    return lexicon


def _split_token(token: str, into: list[str]) -> None:
    """Pattern's find_tokens for one whitespace-separated token: punctuation split off."""
    t = token
    tail: list[str] = []
    while t.startswith(_LEADING) and t not in pattern.replacements:
        into.append(t[0])
        t = t[1:]
    while t.endswith(_TRAILING) and t not in pattern.replacements:
        if t.endswith(_LEADING):
            tail.append(t[-1])
            t = t[:-1]
        if t.endswith("..."):
            tail.append("...")
            t = t[:-3].rstrip(".")
        if t.endswith("."):
            if t in _ABBREVIATIONS or any(rule.match(t) is not None for rule in _RE_ABBR):
                break
            tail.append(t[-1])
            t = t[:-1]
    if t != "":
        into.append(t)
    into.extend(reversed(tail))


def tokens(text: str) -> list[str]:
    """The lower-cased words TextBlob's sentiment analyzer assesses for ``text``."""
    string = text
    for contraction, spaced in _REPLACEMENTS:
        if contraction in string:
            string = string.replace(contraction, spaced)
    for quote, spaced in _QUOTES:
        if quote in string:
            string = string.replace(quote, spaced)
    string = string.replace("\r\n", "\n")
    if "\n\n" in string:
        string = _RE_LINEBREAK.sub(f" {_EOS} ", string)
    split: list[str] = []
    for token in _RE_SPACES.sub(" ", string).split(" "):
        if not token:
            continue
        if token[0] in _LEADING_CHARS or token[-1] in _TRAILING_CHARS:
            _split_token(token, split)
        elif token != _EOS:
            split.append(token)
    joined = " ".join(split)
    if _EOS in split:
        joined = " ".join(t for t in split if t != _EOS)
    if _RE_SPACED_REWRITE.search(joined) is not None:
        joined = " ".join(textblob_sentiment.tokenizer(text))
    return joined.lower().split()


def _assess(words: Sequence[str], lexicon: dict[str, _Word]) -> list[list[Any]]:
    """Pattern's Sentiment.assessments for untagged words: [polarity, subjectivity,
    intensity, negated] per assessed chunk (a known word with its modifier and negation, an
    emoticon or a sarcasm mark)."""
    a: list[list[Any]] = []
    m: str | None = None  # preceding modifier ("really good")
    n: str | None = None  # preceding negation ("not good")
    for w in words:
        known = lexicon.get(w)
        if known is not None:
            p, s, i, modifies = known
            if m is None:
                a.append([p, s, i, False])
            else:
                last = a[-1]
                last[0] = max(-1.0, min(p * last[2], +1.0))
                last[1] = max(-1.0, min(s * last[2], +1.0))
                last[2] = i
            if n is not None:
                last = a[-1]
                last[2] = 1.0 / last[2]
                last[3] = True
            m = w if modifies else None
            n = w if w in _NEGATIONS else None
        else:
            if w in _NEGATIONS:
                n = w
            elif n and len(w.strip("'")) > 1:
                n = None
            if n is not None and m is not None and m.endswith("ly"):
                a[-1][3] = True
                n = None
            elif m and len(w) > 2:
                m = None
            if w == "!" and a:
                a[-1][0] = max(-1.0, min(a[-1][0] * 1.25, +1.0))
            if w == "(!)":
                a.append([0.0, 1.0, 1.0, False])
            if w.isalpha() is False and len(w) <= 5 and w not in _PUNCTUATION:
                polarity = _EMOTICONS.get(w)
                if polarity is not None:
                    a.append([polarity, 1.0, 1.0, False])
    return a


def polarity_subjectivity(text: str) -> tuple[float, float]:
    """Exactly ``TextBlob(text).sentiment`` (PatternAnalyzer): (polarity, subjectivity)."""
    assessed = _assess(tokens(text), _lexicon())
    # Added one by one from an int 0, as Pattern's avg() does, so every bit agrees.
    polarity: float = 0
    subjectivity: float = 0
    for p, s, _i, negated in assessed:
        polarity += p * -0.5 if negated else p
        subjectivity += s
    count = float(len(assessed) or 1)
    return polarity / count, subjectivity / count
