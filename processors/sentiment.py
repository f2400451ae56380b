"""Comment sentiment: TextBlob's polarity and subjectivity, and a label people can act on.

``polarity`` and ``subjectivity`` are exactly TextBlob's (default PatternAnalyzer: no corpus
download). ``label`` no longer comes from polarity: it comes from ``label_score``, computed by
:mod:`servicepulse.processors.sentiment_label` (``label_method`` names the method), which is
right far more often on public-service comments (benchmarks/bench_sentiment_labels.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textblob import TextBlob

from servicepulse.processors.sentiment_label import (
    METHOD,
    SentimentLabel,
    label_for_score,
    label_score,
)

__all__ = ["Sentiment", "SentimentLabel", "score_comment"]


@dataclass(frozen=True, slots=True)
class Sentiment:
    polarity: float
    subjectivity: float
    label: SentimentLabel
    # None only for a Sentiment read back from a record written before the label had its own
    # score (the label then came from polarity with ±0.1 thresholds).
    label_score: float | None = None
    label_method: str | None = None

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "polarity": self.polarity,
            "subjectivity": self.subjectivity,
            "label": self.label,
        }
        if self.label_score is not None:
            document["label_score"] = self.label_score
        if self.label_method is not None:
            document["label_method"] = self.label_method
        return document


def score_comment(comment: str | None) -> Sentiment | None:
    """TextBlob's polarity and subjectivity for the text and the label with its score, or None
    for no or blank text."""
    if comment is None or not comment.strip():
        return None
    polarity, subjectivity = TextBlob(comment).sentiment
    score = label_score(comment)
    return Sentiment(float(polarity), float(subjectivity), label_for_score(score), score, METHOD)
