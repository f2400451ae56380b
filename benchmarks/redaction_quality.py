"""Print span-level precision/recall of ``processors.redaction`` on the labelled PII corpus.

Usage: ``.venv/bin/python benchmarks/redaction_quality.py [--misses] [corpus.jsonl]``

Also reports throughput (comments per second), since ``redact`` runs on every comment.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from servicepulse.processors.redaction import redact  # noqa: E402
from servicepulse.processors.redaction_eval import OVERALL, evaluate  # noqa: E402

DEFAULT_CORPUS = ROOT / "tests" / "unit" / "data" / "pii_corpus.jsonl"


def main(argv: list[str]) -> int:
    show_misses = "--misses" in argv
    paths = [arg for arg in argv if not arg.startswith("--")]
    path = Path(paths[0]) if paths else DEFAULT_CORPUS
    corpus = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    result = evaluate(corpus)
    print(f"corpus: {path} ({len(corpus)} comments)")
    header = f"{'type':<15}{'gold':>6}{'pred':>6}{'TP':>6}{'FP':>5}{'FN':>5}"
    print(f"{header}{'precision':>11}{'recall':>8}")
    names = [*sorted(name for name in result.scores if name != OVERALL), OVERALL]
    for name in names:
        s = result.scores[name]
        print(
            f"{name:<15}{s.gold:>6}{s.predicted:>6}{s.true_positive:>6}{s.false_positive:>5}"
            f"{s.false_negative:>5}{s.precision:>11.3f}{s.recall:>8.3f}"
        )
    if show_misses:
        for miss in result.misses:
            print(f"{miss.kind} {miss.type}: {miss.text!r} in {miss.snippet!r}")
    texts = [str(item["text"]) for item in corpus]
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            redact(text)
    elapsed = time.perf_counter() - started
    print(f"throughput: {rounds * len(texts) / elapsed:,.0f} comments/s")
    print_hostile_scaling()
    return 0


HOSTILE = {"spelled dots": "john dot ", "ats": " at ", "digits": "1 ", "colons": ":",
           "titles": "Mr ", "x@": "x@", "1.": "1."}  # fmt: skip


def print_hostile_scaling() -> None:
    """CPU for a pathological comment at the contract's 10,000-character limit and at half of
    it: a ratio near 2 is linear, near 4 quadratic (a comment that costs seconds)."""
    print("hostile input: ms at 5k chars, ms at 10k chars, ratio")
    for name, unit in HOSTILE.items():
        costs = []
        for size in (5_000, 10_000):
            text = unit * (size // len(unit))
            started = time.process_time()
            redact(text)
            costs.append(time.process_time() - started)
        ratio = costs[1] / costs[0] if costs[0] > 0 else float("nan")
        print(f"  {name:<13}{costs[0] * 1000:>8.1f}{costs[1] * 1000:>8.1f}{ratio:>7.2f}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
