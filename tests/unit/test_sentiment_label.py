"""processors.sentiment_label: the public-service label method, rule by rule."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from servicepulse.processors import sentiment_label
from servicepulse.processors.sentiment_label import (
    METHOD,
    NEUTRAL_BAND,
    label_for_score,
    label_score,
    rewrite_phrases,
)

CORPUS = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "sentiment_corpus.jsonl"


def label(text: str) -> str:
    return label_for_score(label_score(text))


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (-1.0, "negative"),
        (math.nextafter(-NEUTRAL_BAND, -1.0), "negative"),
        (-NEUTRAL_BAND, "neutral"),
        (0.0, "neutral"),
        (NEUTRAL_BAND, "neutral"),
        (math.nextafter(NEUTRAL_BAND, 1.0), "positive"),
        (1.0, "positive"),
    ],
)
def test_band_edges(score: float, expected: str) -> None:
    assert label_for_score(score) == expected


def test_method_name_and_band() -> None:
    assert METHOD == "vader-public-service-v1"
    assert NEUTRAL_BAND == 0.1


@pytest.mark.parametrize(
    "text",
    [
        "Waited on hold for an hour.",
        "They hung up on me.",
        "Got the run around from three offices.",
        "Nobody called back.",
        "No one ever calls back.",
        "Still waiting for my refund.",
        "They lost my paperwork.",
        "This is the third time I have sent it.",
        "Took three months.",
        "Couldn't get through.",
        "The website doesn't work.",
    ],
)
def test_complaints_without_opinion_words_are_negative(text: str) -> None:
    assert label(text) == "negative"


@pytest.mark.parametrize(
    "text",
    [
        "In and out in 15 minutes.",
        "They called me back the same day.",
        "Never waited more than five minutes.",
        "No wait at all.",
        "No problems at all.",
        "Couldn't be happier.",
        "The agent was patient and knowledgeable.",
        "She went above and beyond.",
    ],
)
def test_praise_in_service_words_and_negated_complaints_are_positive(text: str) -> None:
    assert label(text) == "positive"


@pytest.mark.parametrize(
    "text",
    [
        "I need a copy of my benefits letter.",
        "I would like to update my address, please.",
        "Question about the late filing penalty.",
        "Reporting a stolen license plate.",
        "My mother died last month and I need to report it.",
        "fine.",
        "I renewed my registration.",
    ],
)
def test_requests_and_circumstances_are_neutral(text: str) -> None:
    assert label(text) == "neutral"


@pytest.mark.parametrize(
    "text",
    [
        "Oh great, the system is down again.",
        "Perfect. Closed at 2pm on a Wednesday.",
        "Love being told to check a website that doesn't work.",
        "Thanks for the three hour wait.",
    ],
)
def test_sarcastic_praise_followed_by_a_complaint_is_negative(text: str) -> None:
    assert label(text) == "negative"


@pytest.mark.parametrize("text", ["Great, thanks!", "Perfect.", "Great service, very quick."])
def test_plain_praise_is_not_taken_for_sarcasm(text: str) -> None:
    assert label(text) == "positive"


def test_phrases_become_tokens_and_case_elsewhere_is_kept() -> None:
    assert rewrite_phrases("TERRIBLE: on hold for 2 hours") == "TERRIBLE: spxhold for spxdelay"
    assert rewrite_phrases("Nobody called me back") == "spxnobody none spxcallback"


def test_every_phrase_token_has_a_valence() -> None:
    tokens = {token.split()[0] for _, _, token in sentiment_label._COMPILED}
    lexicon = sentiment_label._ANALYZER.lexicon
    assert all(token in lexicon for token in tokens)


def test_trigger_words_never_skip_a_pattern_that_would_match() -> None:
    """The substring gate is only a shortcut: on every corpus comment (and its upper-case
    form) the rewrite equals running every pattern."""

    def every_pattern(text: str) -> str:
        for _, pattern, token in sentiment_label._COMPILED:
            text = pattern.sub(token, text)
        return text

    texts = [json.loads(line)["text"] for line in CORPUS.read_text("utf-8").splitlines()]
    assert len(texts) >= 600
    for text in texts + [t.upper() for t in texts]:
        assert rewrite_phrases(text) == every_pattern(text), text


def test_known_limits_stay_documented() -> None:
    """Misses the README lists under limits: a negation three or more words before a phrase
    does not reach it, and a lone weak word stays inside the neutral band."""
    assert label("Didn't have to wait on hold.") == "negative"
    assert label("Didn't have to wait at all.") == "neutral"


@pytest.mark.parametrize("text", ["", " ", "😡", "???", "a" * 10_000, "no " * 3_000])
def test_any_text_scores_within_range(text: str) -> None:
    assert -1.0 <= label_score(text) <= 1.0
