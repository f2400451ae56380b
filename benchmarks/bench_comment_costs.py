"""What ingest spends on one feedback comment, step by step, without Kafka.

On the comments ``bench_feedback.py --comment-words 6-30`` sends (the generator's, joined and
cut at 6-30 words), µs per comment of this process's CPU for each step ingest runs, and, in
the same run, the slower way each faster step replaced:

* TextBlob's sentiment (the ceiling ``bench_feedback.py`` compares with), and the worker's
  bit-for-bit polarity and subjectivity (``processors.pattern_sentiment``);
* the label's score (``processors.sentiment_label.label_score``): its phrase rewrite, and
  VADER's compound by ``polarity_scores`` against ``processors.vader_compound``;
* redaction: every detector on every comment, against detectors that need a digit skipping
  comments without one and the e-mail patterns gated on "@" and a spaced or bracketed "at"
  (``processors.redaction.detect``); the two find the same spans (tests/unit/test_redaction.py).

Usage::

    .venv/bin/python benchmarks/bench_comment_costs.py [--comments 6000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from bench_feedback import SEED, with_comments
from textblob import TextBlob

from servicepulse.devtools.generator import FeedbackGenerator
from servicepulse.processors import redaction
from servicepulse.processors.pattern_sentiment import polarity_subjectivity
from servicepulse.processors.sentiment import score_comment
from servicepulse.processors.sentiment_label import (
    _ANALYZER,
    _COMPOUND,
    label_score,
    rewrite_phrases,
)


def comments(count: int) -> list[str]:
    generator = FeedbackGenerator(seed=SEED, malformed_share=0.0, redelivery_share=0.0)
    records = with_comments(list(generator.feedback(count)), 6, 30)
    documents = [json.loads(record.value) for record in records]
    return [document.get("data", document)["comment"] for document in documents]


def emails_before_gates(text: str) -> Iterator[tuple[int, int]]:
    """The e-mail detector before its '@' and spaced-'at' gates (session 8's code)."""
    for match in redaction._EMAIL.finditer(text):
        yield match.span()
    if "at" not in text.lower():
        return
    for match in redaction._OBFUSCATED_EMAIL.finditer(text):
        at = match.group("at").strip()
        domain = match.group("domain").strip()
        first_label = re.split(r"\s|\.|[\[(\{]", domain, maxsplit=1)[0]
        unambiguous = (
            at.lower() != "at"
            or redaction._SPELLED_DOT.search(match.group()) is not None
            or first_label.lower() in redaction._MAIL_PROVIDERS
        )
        if unambiguous:
            yield match.span()


def detect_before_gates(text: str) -> list[redaction.Span]:
    """``redaction.detect`` as it was before the gates: every detector on every comment."""
    return redaction.claim_spans(text, (
        (pii_type, emails_before_gates if pii_type == "EMAIL" else detector)
        for pii_type, detector, _needs_digit in redaction.DETECTORS
    ))  # fmt: skip


def microseconds(step: Callable[[Any], object], inputs: Sequence[Any], rounds: int) -> float:
    """Median over ``rounds`` of this process's CPU µs per input."""
    step(inputs[0])
    times = []
    for _ in range(rounds):
        started = time.process_time()
        for value in inputs:
            step(value)
        times.append((time.process_time() - started) / len(inputs) * 1e6)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--comments", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    texts = comments(args.comments)
    rewritten = [rewrite_phrases(text) for text in texts]
    digits = sum(redaction._DIGIT.search(text) is not None for text in texts)
    print(f"{len(texts)} comments of 6-30 words (seed {SEED}); {digits / len(texts):.0%} hold a "
          f"digit; median of {args.rounds} rounds, µs of CPU per comment")  # fmt: skip

    def measure(name: str, step: Callable[[Any], object], inputs: Sequence[Any]) -> float:
        cost = microseconds(step, inputs, args.rounds)
        print(f"  {name:<52} {cost:8.1f}")
        return cost

    textblob = measure("TextBlob(comment).sentiment", lambda t: TextBlob(t).sentiment, texts)
    pattern = measure("polarity_subjectivity (TextBlob's numbers)", polarity_subjectivity, texts)
    measure("label_score", label_score, texts)
    measure("  rewrite_phrases", rewrite_phrases, texts)
    vader = measure(
        "  VADER polarity_scores(...)['compound'], rewritten",
        lambda t: _ANALYZER.polarity_scores(t)["compound"], rewritten,
    )  # fmt: skip
    compound = measure("  VaderCompound.compound, rewritten", _COMPOUND.compound, rewritten)
    measure("score_comment (numbers + label)", score_comment, texts)
    ungated = measure("redaction before the gates", detect_before_gates, texts)
    gated = measure("redaction.detect (gated)", redaction.detect, texts)
    print(f"TextBlob / polarity_subjectivity = {textblob / pattern:.2f}; "
          f"polarity_scores / VaderCompound = {vader / compound:.2f}; "
          f"redaction before / after the gates = {ungated / gated:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
