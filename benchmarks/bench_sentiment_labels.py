"""Sentiment label quality and cost: TextBlob ±0.1, VADER ±0.05 and the shipped method.

Reads the hand-labelled corpus ``benchmarks/data/sentiment_corpus.jsonl`` (see
``benchmarks/data/LABELLING.md``): a development half the method was tuned on and a held-out
half written before any tuning and only evaluated on. Prints, on one run:

1. accuracy and macro-F1 of each method on each half (and both);
2. how each method treats the genuinely neutral comments, and the neutral-band sweep on the
   development half that chose ``NEUTRAL_BAND``;
3. accuracy per kind of comment (sarcasm, negation, mixed, question);
4. comments/s and µs per comment of each method next to TextBlob's, and what the label adds
   to ``score_comment`` per comment.

Usage::

    .venv/bin/python benchmarks/bench_sentiment_labels.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from rich.console import Console
from rich.table import Table
from textblob import TextBlob
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from servicepulse.processors.sentiment import score_comment  # noqa: E402
from servicepulse.processors.sentiment_label import (  # noqa: E402
    METHOD,
    NEUTRAL_BAND,
    label_score,
)

CORPUS = ROOT / "benchmarks" / "data" / "sentiment_corpus.jsonl"
LABELS = ("negative", "neutral", "positive")
SPLITS = ("dev", "heldout")
SWEEP = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
# A candidate that was measured and not shipped: the shipped score plus a share of TextBlob's
# polarity (TextBlob knows some adjectives VADER does not).
BLEND_WEIGHT = 0.2

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
_VADER = SentimentIntensityAnalyzer()


@dataclass(frozen=True)
class Comment:
    id: str
    split: str
    label: str
    tags: tuple[str, ...]
    text: str


def load() -> list[Comment]:
    comments = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        comments.append(
            Comment(row["id"], row["split"], row["label"], tuple(row["tags"]), row["text"])
        )
    return comments


def banded(score: float, band: float) -> str:
    return "negative" if score < -band else "positive" if score > band else "neutral"


def textblob_label(text: str) -> str:
    return banded(TextBlob(text).sentiment.polarity, 0.1)


def vader_label(text: str) -> str:
    return banded(_VADER.polarity_scores(text)["compound"], 0.05)


def shipped_label(text: str) -> str:
    result = score_comment(text)
    assert result is not None
    return result.label


def blend_label(text: str) -> str:
    polarity = TextBlob(text).sentiment.polarity
    return banded(label_score(text) + BLEND_WEIGHT * polarity, NEUTRAL_BAND)


METHODS: dict[str, Callable[[str], str]] = {
    "TextBlob polarity, ±0.1 (old rule)": textblob_label,
    "VADER compound, ±0.05 (standard)": vader_label,
    f"{METHOD}, ±{NEUTRAL_BAND:g} (shipped)": shipped_label,
    f"  not shipped: shipped score + {BLEND_WEIGHT:g}×TextBlob": blend_label,
}


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    scores = []
    for label in LABELS:
        pairs = list(zip(gold, predicted, strict=True))
        tp = sum(g == p == label for g, p in pairs)
        fp = sum(p == label != g for g, p in pairs)
        fn = sum(g == label != p for g, p in pairs)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(f1)
    return sum(scores) / len(scores)


def corpus_table(comments: list[Comment]) -> Table:
    table = Table(title=f"Corpus {CORPUS.relative_to(ROOT)}")
    for column in ("half", "comments", *LABELS, "sarcasm", "negation", "mixed", "question"):
        table.add_column(column, justify="right")
    for split in (*SPLITS, "both"):
        rows = [c for c in comments if split in (c.split, "both")]
        labels = Counter(c.label for c in rows)
        tags = Counter(t for c in rows for t in c.tags)
        table.add_row(
            split,
            str(len(rows)),
            *(str(labels[label]) for label in LABELS),
            *(str(tags[t]) for t in ("sarcasm", "negation", "mixed", "question")),
        )
    return table


def quality_table(comments: list[Comment], predictions: dict[str, list[str]]) -> Table:
    table = Table(title="Label quality: accuracy / macro-F1 (3 classes)")
    table.add_column("method")
    for split in (*SPLITS, "both"):
        table.add_column(f"{split} acc", justify="right")
        table.add_column(f"{split} F1", justify="right")
    for name, predicted in predictions.items():
        cells = []
        for split in (*SPLITS, "both"):
            index = [i for i, c in enumerate(comments) if split in (c.split, "both")]
            gold = [comments[i].label for i in index]
            mine = [predicted[i] for i in index]
            cells += [f"{accuracy(gold, mine):.3f}", f"{macro_f1(gold, mine):.3f}"]
        table.add_row(name, *cells)
    return table


def neutral_table(comments: list[Comment], predictions: dict[str, list[str]]) -> Table:
    neutral = [i for i, c in enumerate(comments) if c.label == "neutral"]
    opinions = [i for i, c in enumerate(comments) if c.label != "neutral"]
    table = Table(
        title=f"The {len(neutral)} genuinely neutral comments (and the {len(opinions)} opinions)"
    )
    table.add_column("method")
    for column in ("neutral → neutral", "→ negative", "→ positive", "opinions → neutral"):
        table.add_column(column, justify="right")
    for name, predicted in predictions.items():
        said = Counter(predicted[i] for i in neutral)
        lost = sum(predicted[i] == "neutral" for i in opinions)
        table.add_row(
            name,
            str(said["neutral"]),
            str(said["negative"]),
            str(said["positive"]),
            str(lost),
        )
    return table


def sweep_table(comments: list[Comment], scores: list[float]) -> Table:
    dev = [i for i, c in enumerate(comments) if c.split == "dev"]
    gold = [comments[i].label for i in dev]
    neutral = [i for i in dev if comments[i].label == "neutral"]
    opinions = [i for i in dev if comments[i].label != "neutral"]
    results = [(band, [banded(scores[i], band) for i in dev]) for band in SWEEP]
    best = max(results, key=lambda result: macro_f1(gold, result[1]))[0]
    table = Table(
        title=f"Neutral band on the development half ({len(neutral)} neutral, "
        f"{len(opinions)} opinions): label_score within ±band is neutral"
    )
    for column in ("band", "accuracy", "macro-F1", "neutral kept", "opinions lost", ""):
        table.add_column(column, justify="right")
    for band, predicted in results:
        kept = sum(abs(scores[i]) <= band for i in neutral)
        lost = sum(abs(scores[i]) <= band for i in opinions)
        note = " ".join(
            word
            for word, on in (("best F1", band == best), ("shipped", band == NEUTRAL_BAND))
            if on
        )
        table.add_row(
            f"±{band:g}",
            f"{accuracy(gold, predicted):.3f}",
            f"{macro_f1(gold, predicted):.3f}",
            f"{kept}/{len(neutral)}",
            f"{lost}/{len(opinions)}",
            note,
        )
    return table


def tags_table(comments: list[Comment], predictions: dict[str, list[str]]) -> Table:
    tags = ("sarcasm", "negation", "mixed", "question")
    table = Table(title="Accuracy by kind of comment (both halves)")
    table.add_column("method")
    for tag in tags:
        count = sum(tag in c.tags for c in comments)
        table.add_column(f"{tag} ({count})", justify="right")
    for name, predicted in predictions.items():
        cells = []
        for tag in tags:
            index = [i for i, c in enumerate(comments) if tag in c.tags]
            gold = [comments[i].label for i in index]
            cells.append(f"{accuracy(gold, [predicted[i] for i in index]):.2f}")
        table.add_row(name, *cells)
    return table


def per_comment_seconds(
    functions: dict[str, Callable[[str], object]], texts: list[str], repeats: int
) -> dict[str, float]:
    """CPU seconds per comment of each function: the best of ``repeats`` passes over the texts,
    the functions taking turns in every pass, so that other processes on a shared machine
    disturb them alike (process CPU time, not wall time, for the same reason)."""
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.process_time()
            for text in texts:
                function(text)
            best[name] = min(best[name], (time.process_time() - started) / len(texts))
    return best


def speed_table(texts: list[str], repeats: int) -> Table:
    textblob_name = "TextBlob polarity + subjectivity (the old scoring)"
    worker_name = "score_comment: TextBlob + label (what the worker runs)"
    timed: dict[str, Callable[[str], object]] = {
        textblob_name: lambda t: TextBlob(t).sentiment,
        "VADER compound": lambda t: _VADER.polarity_scores(t)["compound"],
        f"{METHOD} label_score alone": label_score,
        worker_name: score_comment,
    }
    seconds = per_comment_seconds(timed, texts, repeats)
    textblob = seconds[textblob_name]
    table = Table(
        title=f"Cost per comment ({len(texts)} corpus comments, best of {repeats} passes, "
        "CPU time of one process)"
    )
    for column in ("what", "comments/s", "µs/comment", "× TextBlob's time"):
        table.add_column(column, justify="right" if column != "what" else "left")
    for name, value in seconds.items():
        table.add_row(name, f"{1 / value:,.0f}", f"{value * 1e6:,.0f}", f"{value / textblob:.2f}")
    added = seconds[worker_name] - textblob
    table.caption = (
        f"The label adds {added * 1e6:,.0f} µs per comment to TextBlob's "
        f"{textblob * 1e6:,.0f} µs (×{seconds[worker_name] / textblob:.2f})."
    )
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timing passes (best is kept)")
    args = parser.parse_args(argv)

    comments = load()
    texts = [c.text for c in comments]
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("textblob", "vaderSentiment")
    )
    console.print(f"Python {platform.python_version()}, {versions}, {platform.machine()}")
    console.print(corpus_table(comments))
    predictions = {name: [fn(t) for t in texts] for name, fn in METHODS.items()}
    console.print(quality_table(comments, predictions))
    console.print(neutral_table(comments, predictions))
    console.print(sweep_table(comments, [label_score(t) for t in texts]))
    console.print(tags_table(comments, predictions))
    console.print(speed_table(texts, args.repeats))


if __name__ == "__main__":
    main()
