"""Comment sentiment: TextBlob's default analyzer (PatternAnalyzer: no corpus download).

The numbers come from processors.pattern_sentiment, which returns TextBlob's polarity and
subjectivity bit for bit from TextBlob's own lexicon, several times faster.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from servicepulse.processors.pattern_sentiment import polarity_subjectivity

SentimentLabel = Literal["negative", "neutral", "positive"]

# Polarity is in [-1, 1]. TextBlob gives exactly 0.0 to text with no opinion words, and small
# magnitudes to text with one hedged opinion word ("ok", "fine"); ±0.1 keeps those neutral.
NEGATIVE_BELOW = -0.1
POSITIVE_ABOVE = 0.1


@dataclass(frozen=True, slots=True)
class Sentiment:
    polarity: float
    subjectivity: float
    label: SentimentLabel

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)


def label_for(polarity: float) -> SentimentLabel:
    """negative if polarity < -0.1, positive if polarity > 0.1, else neutral."""
    if polarity < NEGATIVE_BELOW:
        return "negative"
    if polarity > POSITIVE_ABOVE:
        return "positive"
    return "neutral"


def score_comment(comment: str | None) -> Sentiment | None:
    """TextBlob's polarity and subjectivity for the text, or None for no or blank text."""
    if comment is None or not comment.strip():
        return None
    polarity, subjectivity = polarity_subjectivity(comment)
    return Sentiment(float(polarity), float(subjectivity), label_for(float(polarity)))
