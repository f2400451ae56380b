"""Where a worker's CPU goes: a py-spy raw profile summed by library and by function.

``py-spy record --format raw`` writes one line per distinct stack, ``frame;frame;... count``
(outermost first). Only samples holding the GIL are recorded by ``bench_feedback.py
--profile``, so the counts are the worker's Python CPU time. Each sample is charged to:

* **library**: the innermost frame's package (aiokafka, faust, pydantic, servicepulse, …), i.e.
  where the interpreter actually was (self time);
* **agent**: the outermost servicepulse frame on the stack (below the CLI), if any: everything
  an agent body calls (pydantic, aiokafka's send, ...) counts for that agent; samples with none
  are Faust's and aiokafka's own loops (fetching, committing, the producer's sender).

Usage::

    .venv/bin/python benchmarks/profile_summary.py PROFILE.txt [--top 25]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

# "function (path/to/module.py:123)"
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]+?)(?::\d+)?\)$")
PACKAGES = (
    "aiokafka",
    "faust",
    "mode",
    "pydantic",
    "pydantic_core",
    "prometheus_client",
    "textblob",
    "orjson",
    "ddsketch",
    "asyncio",
    "json",
    "re",
    "yarl",
    "aiohttp",
    "kafka",
    "croniter",
    "venusian",
    "opentracing",
    "logging",
)


# The worker's own entry frames sit at the bottom of every stack: not a step.
ENTRY_POINTS = ("streams/cli.py", "streams/worker.py")
# run_agent wraps every agent's loop (streams/deadletters.py): the handler below it is the step.
WRAPPERS = ("run_agent.",)


def package_of(path: str) -> str:
    """py-spy names files relative to their sys.path entry: "aiokafka/producer/x.py"."""
    if path.startswith("<"):
        return path  # <frozen importlib._bootstrap> and the like
    top = path.split("/", 1)[0].removesuffix(".py")
    return f"servicepulse.{top}" if top in ("processors", "streams", "schemas") else top


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def summarise(stacks: list[tuple[list[str], int]], top: int) -> str:
    total = sum(count for _, count in stacks) or 1
    by_package: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    by_step: Counter[str] = Counter()
    for frames, count in stacks:
        innermost = FRAME.match(frames[-1])
        where = package_of(innermost["file"]) if innermost else frames[-1]
        by_package[where] += count
        if innermost:
            by_function[f"{innermost['function']} ({innermost['file'].rsplit('/', 1)[-1]})"] += (
                count
            )
        step = "(no servicepulse frame: Faust/aiokafka machinery)"
        for frame in frames:
            match = FRAME.match(frame)
            if (
                match
                and package_of(match["file"]).startswith("servicepulse")
                and not any(match["file"].endswith(entry) for entry in ENTRY_POINTS)
                and not match["function"].startswith(WRAPPERS)
            ):
                step = f"{match['function']} ({match['file'].rsplit('/', 1)[-1]})"
                break
        by_step[step] += count

    def block(title: str, counts: Counter[str]) -> list[str]:
        lines = [f"{title}:"]
        lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in counts.most_common(top)]
        return lines

    out = [f"{total} samples"]
    out += block("self time by library (innermost frame)", by_package)
    out += block("self time by function", by_function)
    out += block("inclusive by agent (outermost servicepulse frame)", by_step)
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    print(summarise(parse(args.profile), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
