"""Span-level quality of ``processors.redaction`` against a labelled corpus.

A corpus item is ``{"text": ..., "spans": [{"start": 0, "end": 5, "type": "EMAIL"}, ...]}``.
Matching is by overlap, not exact offsets, because what matters for redaction is that the
identifier is covered, and annotators legitimately disagree on edges ("Apt 2" or not):

* a predicted span is a true positive if it overlaps a gold span of the same type, otherwise
  a false positive (precision = TP predictions / all predictions);
* a gold span is found if some predicted span of the same type overlaps it, otherwise it is a
  false negative (recall = found gold spans / all gold spans).

A type with nothing predicted has precision 1.0; with nothing labelled, recall 1.0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from servicepulse.processors.redaction import Span, detect

OVERALL = "overall"


@dataclass(frozen=True, slots=True)
class Scores:
    """Counts and rates for one PII type (or ``overall``)."""

    predicted: int
    true_positive: int
    gold: int
    found: int

    @property
    def false_positive(self) -> int:
        return self.predicted - self.true_positive

    @property
    def false_negative(self) -> int:
        return self.gold - self.found

    @property
    def precision(self) -> float:
        return self.true_positive / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 1.0


@dataclass(frozen=True, slots=True)
class Miss:
    """A false positive (``kind == "fp"``) or false negative (``"fn"``), for debugging."""

    kind: str
    type: str
    text: str
    snippet: str


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Scores per type plus :data:`OVERALL`, and every miss."""

    scores: dict[str, Scores]
    misses: list[Miss]


def _overlaps(a: Span, b: Span) -> bool:
    return a.type == b.type and a.start < b.end and b.start < a.end


def evaluate(
    corpus: Iterable[Mapping[str, Any]], detector: Callable[[str], list[Span]] = detect
) -> Evaluation:
    """Score ``detector`` (the production one by default) on ``corpus``."""
    counts: dict[str, list[int]] = {}
    misses: list[Miss] = []

    def bump(pii_type: str, index: int) -> None:
        for key in (pii_type, OVERALL):
            counts.setdefault(key, [0, 0, 0, 0])[index] += 1

    def match(text: str, spans: list[Span], others: list[Span], index: int, miss: str) -> None:
        """Counts ``spans`` at ``index`` and those overlapping one of ``others`` at ``index + 1``;
        the rest are misses of kind ``miss``."""
        for span in spans:
            bump(span.type, index)
            if any(_overlaps(span, other) for other in others):
                bump(span.type, index + 1)
            else:
                misses.append(Miss(miss, span.type, text[span.start : span.end], text))

    for item in corpus:
        text = str(item["text"])
        gold = [Span(int(s["start"]), int(s["end"]), str(s["type"])) for s in item["spans"]]
        predicted = detector(text)
        match(text, predicted, gold, 0, "fp")  # predicted, true_positive
        match(text, gold, predicted, 2, "fn")  # gold, found
    counts.setdefault(OVERALL, [0, 0, 0, 0])
    scores = {key: Scores(*values) for key, values in counts.items()}
    return Evaluation(scores, misses)
