"""VADER's compound score, bit for bit, about 3x faster.

``SentimentIntensityAnalyzer.polarity_scores`` spends most of its time outside the scoring
rules: it rebuilds the text character by character to replace emoji, lower-cases the whole word
list again for each of up to three negation checks and each idiom check per opinion word, and
scans the 59-word negation list as a list. This module keeps the rules, their order and the
data (the installed vaderSentiment's lexicon, boosters, special cases and negations, and the
analyzer's lexicon with whatever it was extended with) and drops the overhead:

* a text that is all ASCII holds no emoji (every key of VADER's emoji lexicon is non-ASCII,
  checked at import), so it is used as it is; any other text goes through VADER's own loop;
* each word is lower-cased once; negation words are a set;
* ``sentiment_valence``, ``_negation_check``, ``_special_idioms_check`` and ``_least_check``
  are VADER's statement for statement on that list; the "but" rule, the booster scaling and
  the final scoring are VADER's own functions, called as they are.

tests/unit/test_vader_compound.py checks the result against ``polarity_scores`` on >= 100,000
varied texts.
"""

from __future__ import annotations

from typing import Any

from vaderSentiment import vaderSentiment as vader

_BOOSTERS: dict[str, float] = vader.BOOSTER_DICT
_SPECIAL_CASES: dict[str, float] = vader.SPECIAL_CASES
_NEGATIONS = frozenset(vader.NEGATE)
_N_SCALAR = vader.N_SCALAR
_C_INCR = vader.C_INCR
_strip_punctuation = vader.SentiText._strip_punc_if_word
_scalar_inc_dec = vader.scalar_inc_dec
_but_check = vader.SentimentIntensityAnalyzer._but_check
_allcap_differential = vader.allcap_differential


def _negated(word_lower: str) -> bool:
    # vader.negated([word]) for one lower-cased word.
    return word_lower in _NEGATIONS or "n't" in word_lower


class VaderCompound:
    """``compound(text)`` is ``analyzer.polarity_scores(text)["compound"]``."""

    def __init__(self, analyzer: vader.SentimentIntensityAnalyzer) -> None:
        self.analyzer = analyzer
        self.lexicon: dict[str, float] = analyzer.lexicon
        self.emojis: dict[str, str] = analyzer.emojis
        self.ascii_has_no_emoji = all(not emoji.isascii() for emoji in self.emojis)

    def _without_emoji(self, text: str) -> str:
        if text.isascii() and self.ascii_has_no_emoji:
            return text
        # VADER's own loop (polarity_scores), for texts that may hold emoji.
        emojis = self.emojis
        text_no_emoji = ""
        prev_space = True
        for char in text:
            if char in emojis:
                description = emojis[char]
                if not prev_space:
                    text_no_emoji += " "
                text_no_emoji += description
                prev_space = False
            else:
                text_no_emoji += char
                prev_space = char == " "
        return text_no_emoji

    def compound(self, text: str) -> float:
        text = self._without_emoji(text).strip()
        words = [_strip_punctuation(token) for token in text.split()]
        lowers = [word.lower() for word in words]
        is_cap_diff = _allcap_differential(words)
        lexicon = self.lexicon
        last = len(words) - 1
        sentiments: list[Any] = []
        for i, item in enumerate(words):
            item_lowercase = lowers[i]
            valence: Any = 0
            if item_lowercase in _BOOSTERS:
                sentiments.append(valence)
                continue
            if i < last and item_lowercase == "kind" and lowers[i + 1] == "of":
                sentiments.append(valence)
                continue
            # sentiment_valence
            if item_lowercase in lexicon:
                valence = lexicon[item_lowercase]
                if item_lowercase == "no" and i != last and lowers[i + 1] in lexicon:
                    valence = 0.0
                if (
                    (i > 0 and lowers[i - 1] == "no")
                    or (i > 1 and lowers[i - 2] == "no")
                    or (i > 2 and lowers[i - 3] == "no" and lowers[i - 1] in ("or", "nor"))
                ):
                    valence = lexicon[item_lowercase] * _N_SCALAR
                if item.isupper() and is_cap_diff:
                    if valence > 0:
                        valence += _C_INCR
                    else:
                        valence -= _C_INCR
                for start_i in range(0, 3):
                    if i > start_i and lowers[i - (start_i + 1)] not in lexicon:
                        s = _scalar_inc_dec(words[i - (start_i + 1)], valence, is_cap_diff)
                        if start_i == 1 and s != 0:
                            s = s * 0.95
                        if start_i == 2 and s != 0:
                            s = s * 0.9
                        valence = valence + s
                        valence = _negation_check(valence, lowers, start_i, i)
                        if start_i == 2:
                            valence = _special_idioms_check(valence, lowers, i)
                valence = _least_check(valence, lowers, i, lexicon)
            sentiments.append(valence)
        if "but" in lowers:
            sentiments = _but_check(words, sentiments)
        return float(self.analyzer.score_valence(sentiments, text)["compound"])


def _negation_check(valence: Any, lowers: list[str], start_i: int, i: int) -> Any:
    if start_i == 0 and _negated(lowers[i - (start_i + 1)]):
        valence = valence * _N_SCALAR
    if start_i == 1:
        if lowers[i - 2] == "never" and (lowers[i - 1] == "so" or lowers[i - 1] == "this"):
            valence = valence * 1.25
        elif lowers[i - 2] == "without" and lowers[i - 1] == "doubt":
            valence = valence
        elif _negated(lowers[i - (start_i + 1)]):
            valence = valence * _N_SCALAR
    if start_i == 2:
        if (lowers[i - 3] == "never" and (lowers[i - 2] == "so" or lowers[i - 2] == "this")) or (
            lowers[i - 1] == "so" or lowers[i - 1] == "this"
        ):
            valence = valence * 1.25
        elif lowers[i - 3] == "without" and (lowers[i - 2] == "doubt" or lowers[i - 1] == "doubt"):
            valence = valence
        elif _negated(lowers[i - (start_i + 1)]):
            valence = valence * _N_SCALAR
    return valence


def _special_idioms_check(valence: Any, lowers: list[str], i: int) -> Any:
    onezero = f"{lowers[i - 1]} {lowers[i]}"
    twoonezero = f"{lowers[i - 2]} {lowers[i - 1]} {lowers[i]}"
    twoone = f"{lowers[i - 2]} {lowers[i - 1]}"
    threetwoone = f"{lowers[i - 3]} {lowers[i - 2]} {lowers[i - 1]}"
    threetwo = f"{lowers[i - 3]} {lowers[i - 2]}"
    for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
        if seq in _SPECIAL_CASES:
            valence = _SPECIAL_CASES[seq]
            break
    if len(lowers) - 1 > i:
        zeroone = f"{lowers[i]} {lowers[i + 1]}"
        if zeroone in _SPECIAL_CASES:
            valence = _SPECIAL_CASES[zeroone]
    if len(lowers) - 1 > i + 1:
        zeroonetwo = f"{lowers[i]} {lowers[i + 1]} {lowers[i + 2]}"
        if zeroonetwo in _SPECIAL_CASES:
            valence = _SPECIAL_CASES[zeroonetwo]
    for n_gram in (threetwoone, threetwo, twoone):
        if n_gram in _BOOSTERS:
            valence = valence + _BOOSTERS[n_gram]
    return valence


def _least_check(valence: Any, lowers: list[str], i: int, lexicon: dict[str, float]) -> Any:
    if i > 1 and lowers[i - 1] not in lexicon and lowers[i - 1] == "least":
        if lowers[i - 2] != "at" and lowers[i - 2] != "very":
            valence = valence * _N_SCALAR
    elif i > 0 and lowers[i - 1] not in lexicon and lowers[i - 1] == "least":
        valence = valence * _N_SCALAR
    return valence
