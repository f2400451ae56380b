"""processors.sentiment: TextBlob's numbers passed through unchanged, the label from its score."""

from __future__ import annotations

import pytest
from textblob import TextBlob

from servicepulse.processors.sentiment import Sentiment, score_comment
from servicepulse.processors.sentiment_label import METHOD, label_for_score, label_score

TEXTS = [
    "The clerk was wonderful and very helpful.",
    "Terrible wait, the worst service ever.",
    "I renewed my passport on Tuesday.",
    "ok",
    "The form was fine but the website kept timing out, which was frustrating.",
    "On hold for two hours and no one called back.",
]


@pytest.mark.parametrize("text", TEXTS)
def test_scores_equal_textblob_exactly(text: str) -> None:
    expected = TextBlob(text).sentiment
    result = score_comment(text)
    assert result is not None
    assert result.polarity == expected.polarity
    assert result.subjectivity == expected.subjectivity


@pytest.mark.parametrize("text", TEXTS)
def test_label_comes_from_label_score_not_polarity(text: str) -> None:
    result = score_comment(text)
    assert result is not None
    assert result.label_score == label_score(text)
    assert result.label == label_for_score(label_score(text))
    assert result.label_method == METHOD


def test_texts_cover_all_three_labels() -> None:
    labels = {score.label for text in TEXTS if (score := score_comment(text)) is not None}
    assert labels == {"negative", "neutral", "positive"}


def test_known_labels() -> None:
    positive = score_comment("The clerk was wonderful and very helpful.")
    negative = score_comment("Terrible wait, the worst service ever.")
    neutral = score_comment("I renewed my passport on Tuesday.")
    assert positive is not None and positive.label == "positive"
    assert negative is not None and negative.label == "negative"
    assert neutral == Sentiment(0.0, 0.0, "neutral", 0.0, METHOD)


def test_a_complaint_without_opinion_words_is_negative_though_polarity_is_zero() -> None:
    """The case the old ±0.1 polarity rule got wrong most often."""
    result = score_comment("On hold for two hours and no one called back.")
    assert result is not None
    assert result.polarity == 0.0
    assert result.label == "negative"


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
    assert result.label_score is not None and -1.0 <= result.label_score <= 1.0
    assert result.label in ("negative", "neutral", "positive")
    assert (result.polarity, result.subjectivity) == tuple(TextBlob(text).sentiment)


def test_as_dict_and_types() -> None:
    result = score_comment("The clerk was wonderful and very helpful.")
    assert result is not None
    assert type(result.polarity) is float and type(result.subjectivity) is float
    assert type(result.label_score) is float
    assert result.as_dict() == {
        "polarity": result.polarity,
        "subjectivity": result.subjectivity,
        "label": "positive",
        "label_score": result.label_score,
        "label_method": METHOD,
    }


def test_a_sentiment_written_before_label_score_round_trips_without_it() -> None:
    """Records on internal topics written by an older worker have no label_score/method."""
    old = {"polarity": -0.35, "subjectivity": 0.6, "label": "negative"}
    assert Sentiment(**old).as_dict() == old
