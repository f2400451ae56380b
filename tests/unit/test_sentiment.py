"""processors.sentiment: TextBlob's numbers passed through unchanged, labels at the thresholds."""

from __future__ import annotations

import math

import pytest
from textblob import TextBlob

from servicepulse.processors.sentiment import (
    NEGATIVE_BELOW,
    POSITIVE_ABOVE,
    Sentiment,
    label_for,
    score_comment,
)

TEXTS = [
    "The clerk was wonderful and very helpful.",
    "Terrible wait, the worst service ever.",
    "I renewed my passport on Tuesday.",
    "ok",
    "The form was fine but the website kept timing out, which was frustrating.",
]


@pytest.mark.parametrize("text", TEXTS)
def test_scores_equal_textblob_exactly(text: str) -> None:
    expected = TextBlob(text).sentiment
    result = score_comment(text)
    assert result is not None
    assert result.polarity == expected.polarity
    assert result.subjectivity == expected.subjectivity
    assert result.label == label_for(expected.polarity)


def test_texts_cover_all_three_labels() -> None:
    labels = {score.label for text in TEXTS if (score := score_comment(text)) is not None}
    assert labels == {"negative", "neutral", "positive"}


def test_known_polarities() -> None:
    positive = score_comment("The clerk was wonderful and very helpful.")
    negative = score_comment("Terrible wait, the worst service ever.")
    neutral = score_comment("I renewed my passport on Tuesday.")
    assert positive is not None and positive.label == "positive" and positive.polarity > 0.1
    assert negative is not None and negative.label == "negative" and negative.polarity < -0.1
    assert neutral is not None and neutral == Sentiment(0.0, 0.0, "neutral")


def test_thresholds_are_plus_minus_one_tenth() -> None:
    assert NEGATIVE_BELOW == -0.1
    assert POSITIVE_ABOVE == 0.1


@pytest.mark.parametrize(
    ("polarity", "label"),
    [
        (-1.0, "negative"),
        (math.nextafter(-0.1, -1.0), "negative"),
        (-0.1, "neutral"),
        (-0.0999, "neutral"),
        (0.0, "neutral"),
        (0.0999, "neutral"),
        (0.1, "neutral"),
        (math.nextafter(0.1, 1.0), "positive"),
        (1.0, "positive"),
    ],
)
def test_label_boundaries(polarity: float, label: str) -> None:
    assert label_for(polarity) == label


@pytest.mark.parametrize("comment", [None, "", "   ", "\n\t "])
def test_no_or_blank_comment_scores_none(comment: str | None) -> None:
    assert score_comment(comment) is None


@pytest.mark.parametrize(
    "text", ["Le service était excellent 👍", "😡😡😡", "服务很好", "Служба была ужасной", "🙂"]
)
def test_non_english_and_emoji_do_not_raise(text: str) -> None:
    result = score_comment(text)
    assert result is not None
    assert -1.0 <= result.polarity <= 1.0
    assert 0.0 <= result.subjectivity <= 1.0
    assert result.label in ("negative", "neutral", "positive")
    assert (result.polarity, result.subjectivity) == tuple(TextBlob(text).sentiment)


def test_as_dict_and_types() -> None:
    result = score_comment("The clerk was wonderful and very helpful.")
    assert result is not None
    assert type(result.polarity) is float and type(result.subjectivity) is float
    assert result.as_dict() == {
        "polarity": result.polarity,
        "subjectivity": result.subjectivity,
        "label": "positive",
    }
