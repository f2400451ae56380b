"""processors.vader_compound: VADER's compound score, bit for bit.

The texts are the demo generator's comments, rewritten as the label rewrites them, and words of
VADER's lexicon mixed with what its rules treat specially: boosters and dampeners (also "kind
of"), negations and contractions, "no", "least", "but", "never so", "without doubt", special
cases and idioms, ALL CAPS words, punctuation emphasis, emoji and non-ASCII text.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Iterator

from vaderSentiment import vaderSentiment as vader

from servicepulse.devtools.generator import FeedbackGenerator
from servicepulse.processors.sentiment_label import _ANALYZER, rewrite_phrases
from servicepulse.processors.vader_compound import VaderCompound

TEXTS = 100_000
SEED = 29

SPECIAL = [
    "no", "No", "NO", "not", "never", "Never", "so", "this", "without", "doubt", "least",
    "at", "very", "but", "But", "BUT", "kind", "of", "kind of", "sort of", "or", "nor",
    "isn't", "don't", "wasn't", "can't", "n't", "ain't", "nobody", "none", "nothing",
    "the shit", "bad ass", "yeah right", "kiss of death", "to die for", "bus stop",
    "cut the mustard", "just enough", "at least", "very least", "the bomb", "beating heart",
    "!", "!!", "!!!!!", "?", "??", "????", "...", ",", ".", ":)", ":(", ":D", "<3",
    "😀", "😡", "💔", "👍", "café", "İstanbul", "naïve", "ΣΑΣ", "straße", "ǅ",
]  # fmt: skip


def _words() -> list[str]:
    lexicon = sorted(_ANALYZER.lexicon)
    rng = random.Random(SEED)
    return rng.sample(lexicon, 1500) + sorted(vader.BOOSTER_DICT) + sorted(vader.NEGATE)


def _varied_texts(count: int) -> Iterator[str]:
    rng = random.Random(SEED)
    documents = (json.loads(record.value) for record in
                 FeedbackGenerator(seed=SEED, malformed_share=0.0).feedback(3000))  # fmt: skip
    comments = [document["comment"] for document in documents if document.get("comment")]
    words = _words()
    for n in range(count):
        kind = n % 4
        if kind == 0:
            text = rng.choice(comments)
        elif kind == 1:
            text = rewrite_phrases(rng.choice(comments))
        else:
            pool = SPECIAL if kind == 2 else words
            tokens = [rng.choice(pool if rng.random() < 0.5 else words)
                      for _ in range(rng.randint(0, 30))]  # fmt: skip
            text = " ".join(tokens)
        if rng.random() < 0.3:  # shout some of it
            parts = text.split(" ")
            text = " ".join(p.upper() if rng.random() < 0.3 else p for p in parts)
        if rng.random() < 0.1:
            text = rng.choice(["", " ", "\t", "  "]) + text + rng.choice(["", " ", "\n"])
        yield text


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


def test_compound_is_vaders_bit_for_bit_on_varied_texts() -> None:
    fast = VaderCompound(_ANALYZER)
    mismatches = []
    texts = 0
    for text in _varied_texts(TEXTS):
        texts += 1
        expected = _ANALYZER.polarity_scores(text)["compound"]
        if _bits(fast.compound(text)) != _bits(float(expected)):
            mismatches.append((text, expected, fast.compound(text)))
    assert texts == TEXTS
    assert mismatches == []


def test_the_texts_reach_every_rule() -> None:
    # The comparison above is only as good as its texts: they must trigger each special rule.
    texts = list(_varied_texts(20_000))
    lowered = [text.lower() for text in texts]
    assert sum("but" in text.split() for text in lowered) > 100
    assert sum(" kind of " in f" {text} " for text in lowered) > 20
    assert sum("least" in text.split() for text in lowered) > 100
    assert sum(any(not char.isascii() for char in text) for text in texts) > 100
    assert (
        sum(any(word.isupper() and len(word) > 1 for word in text.split()) for text in texts) > 1000
    )
    assert sum(text.count("!") > 1 or text.count("?") > 1 for text in texts) > 100
    assert sum(any(case in text for case in vader.SPECIAL_CASES) for text in lowered) > 100


def test_a_plain_analyzer_gets_vaders_numbers_too() -> None:
    plain = vader.SentimentIntensityAnalyzer()
    fast = VaderCompound(plain)
    for text in _varied_texts(5_000):
        assert fast.compound(text) == plain.polarity_scores(text)["compound"], text
