"""processors.pattern_sentiment: TextBlob's PatternAnalyzer numbers, bit for bit.

The texts are the demo generator's comments and words of TextBlob's own lexicon, mutated with
what the analyzer treats specially: negations and contractions, intensifiers, emoticons (also
written with spaces), sarcasm marks, exclamation and ellipsis runs, abbreviations, quotes,
line breaks, casing and non-ASCII text.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Iterator

import pytest
from textblob import TextBlob
from textblob import _text as pattern
from textblob.en import sentiment as textblob_sentiment
from textblob.en.sentiments import PatternAnalyzer

from servicepulse.devtools.generator import FeedbackGenerator
from servicepulse.processors.pattern_sentiment import polarity_subjectivity, tokens

TEXTS = 100_000
SEED = 13

NEGATIONS = ["not", "no", "never", "n't", "don't", "isn't", "wasn't", "can't", "won't", "Not"]
INTENSIFIERS = [
    "very",
    "really",
    "extremely",
    "so",
    "quite",
    "totally",
    "terribly",
    "too",
    "absolutely",
    "slightly",
    "incredibly",
    "most",
    "more",
    "less",
    "pretty",
]
PUNCTUATION = [
    "!",
    "!!",
    "!!!",
    "?",
    "?!",
    "...",
    "..",
    ".",
    ",",
    ";",
    ":",
    "-",
    "--",
    "(",
    ")",
    "(!)",
    "( ! )",
    "(! )",
    "( !)",
    '"',
    "'",
    "“",
    "”",
    "‘",
    "’",
    "*",
    "#",
    "@",
    "&",
    "[",
    "]",
    "{",
    "}",
    "~",
    "_",
    "=",
    "+",
    "|",
    "^",
    "$",
    "`",
]
ABBREVIATIONS = [
    "e.g.",
    "i.e.",
    "U.S.",
    "Mr.",
    "Dr.",
    "etc.",
    "a.m.",
    "p.m.",
    "vs.",
    "w/",
    "A.",
    "St.",
    "Mrs.",
    "No.",
    "approx.",
]
UNICODE = [
    "café",
    "naïve",
    "ÉXCELLENT",
    "Straße",
    "ΣΟΦΟΣ",
    "İstanbul",
    "日本語",
    "😀",
    "👍",
    "♥",
    "°O°",
    "°o°",
    "\u00a0",
    "\u2003",
    "\u200b",
    "\u2028",
    "ﬁne",
    "Ǆ",
    "ß",
    "—",
    "…",
    "«",
    "»",
    "½",
    "\x1c",
    "\t",
]
SPACES = [" ", " ", " ", " ", "  ", "\n", "\n\n", "\r\n", "\r\n\r\n", "\t", " \n \n "]
SPECIAL_TOKENS = ["END-OF-SENTENCE", "END-OF-SENTENCE.", "'s", "'d", "'ll", "n't", "'", "''"]


def emoticons() -> list[str]:
    found = sorted(e for group in pattern.EMOTICONS.values() for e in group)
    return found + [" ".join(e) for e in found] + [e.upper() for e in found]


def generator_comments(count: int) -> list[str]:
    generator = FeedbackGenerator(seed=SEED, malformed_share=0.0, redelivery_share=0.0)
    comments = []
    for record in generator.feedback(count):
        comment = json.loads(record.value).get("comment")
        if comment:
            comments.append(comment)
    return comments


def cased(rng: random.Random, word: str) -> str:
    style = rng.random()
    if style < 0.75:
        return word
    if style < 0.85:
        return word.upper()
    if style < 0.95:
        return word.title()
    return "".join(c.upper() if rng.random() < 0.5 else c for c in word)


def varied_texts(count: int, seed: int = SEED) -> Iterator[str]:
    rng = random.Random(seed)
    comments = generator_comments(6_000)
    lexicon = sorted(w for w in dict.keys(textblob_sentiment) if w)
    smileys = emoticons()
    pools = [
        (0.50, lexicon),
        (0.10, NEGATIONS),
        (0.10, INTENSIFIERS),
        (0.10, PUNCTUATION),
        (0.05, smileys),
        (0.04, ABBREVIATIONS),
        (0.04, UNICODE),
        (0.02, SPECIAL_TOKENS),
    ]
    for _ in range(count):
        shape = rng.random()
        if shape < 0.05:  # a generator comment as it is
            yield rng.choice(comments)
            continue
        words = rng.choice(comments).split() if shape < 0.65 else []
        for _ in range(rng.randint(1, 25) if not words else rng.randint(0, 8)):
            pick = rng.random()
            for share, pool in pools:
                if pick < share:
                    word = cased(rng, rng.choice(pool))
                    break
                pick -= share
            else:
                word = rng.choice(comments).split()[0]
            if rng.random() < 0.15:  # glued to its neighbour: "good!", "(great", "bad:("
                word = (
                    rng.choice(PUNCTUATION + smileys) + word
                    if rng.random() < 0.5
                    else word + rng.choice(PUNCTUATION + smileys)
                )
            words.insert(rng.randint(0, len(words)), word)
        yield "".join(w + rng.choice(SPACES) for w in words).rstrip(rng.choice(["", " "]))


def bits(value: float) -> bytes:
    """The float's IEEE 754 bytes: 0.0 and -0.0, or two roundings, compare different."""
    return struct.pack("<d", value)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return list(varied_texts(TEXTS))


@pytest.mark.timeout(900)  # ~40 s of CPU; the machine may be shared
def test_identical_to_pattern_analyzer_on_100k_varied_texts(texts: list[str]) -> None:
    # PatternAnalyzer.analyze is what TextBlob(text).sentiment returns; the blob itself is
    # skipped here to keep the test short (the next test compares the blobs).
    analyzer = PatternAnalyzer()
    assert len(set(texts)) > 0.9 * TEXTS
    differing = []
    for text in texts:
        expected = analyzer.analyze(text)
        got = polarity_subjectivity(text)
        if (bits(got[0]), bits(got[1])) != (bits(expected[0]), bits(expected[1])):
            differing.append((text, got, tuple(expected)))
    assert differing == []


def test_identical_to_textblob_blobs(texts: list[str]) -> None:
    for text in texts[:2_000]:
        expected = TextBlob(text).sentiment
        got = polarity_subjectivity(text)
        assert (bits(got[0]), bits(got[1])) == (bits(expected[0]), bits(expected[1])), text


def test_the_varied_texts_reach_every_special_rule(texts: list[str]) -> None:
    # Spaced emoticons and sarcasm take TextBlob's tokenizer; everything else the fast one.
    spaced = sum(
        1
        for text in texts[:5_000]
        if " ".join(textblob_sentiment.tokenizer(text)).lower().split() != tokens(text)
        or ": )" in text
    )
    assert spaced > 0
    joined = "\n".join(texts)
    for needle in (
        "n't",
        "(!)",
        "( ! )",
        ": )",
        "END-OF-SENTENCE",
        "\n\n",
        "!!!",
        "...",
        "U.S.",
        "😀",
        "ΣΟΦΟΣ",
        "İstanbul",
        "NOT",
        "very",
    ):
        assert needle in joined, needle


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (0.0, 0.0)),
        ("not good", (-0.35, 0.6000000000000001)),
        ("very good!", TextBlob("very good!").sentiment),
        ("great ( ! ) : )", TextBlob("great ( ! ) : )").sentiment),
    ],
)
def test_known_values(text: str, expected: tuple[float, float]) -> None:
    assert polarity_subjectivity(text) == tuple(expected)
