"""A generated event log with the awkward cases a correctness test needs.

Events come roughly in event-time order (small jitter), with: first_response published before
its opened, exact redeliveries, cross-agency transfers, repeat contacts, and a handful of
events published far (two days) behind everything else, so they are unambiguously late.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from servicepulse.processors.timestamps import rfc3339

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC).timestamp()
GROUPS = [
    ("ssa", "retirement", "phone"), ("ssa", "retirement", "web"), ("ssa", "disability", "web"),
    ("irs", "refunds", "phone"), ("irs", "refunds", "chat"), ("va", "benefits_claims", "web"),
]  # fmt: skip
COMMENTS = [
    "Great help, thank you so much!", "Terrible wait and a rude answer.",
    "It was fine.", "The website is confusing and slow.", "Quick, friendly and clear.",
    "Awful experience, I was transferred three times.", "",
]  # fmt: skip


def generate(cases: int = 400, seed: int = 11, spacing: float = 30.0
             ) -> list[tuple[str, dict[str, Any]]]:  # fmt: skip
    """("feedback" | "interaction", event) pairs in publish order."""
    rng = random.Random(seed)
    timed: list[tuple[float, str, dict[str, Any]]] = []
    customers = [f"c-{n:05d}" for n in range(cases // 2)]
    for n in range(cases):
        opened = START + n * spacing
        agency, service, channel = rng.choice(GROUPS)
        case_id = f"case-{n}"
        # The same customer comes back every len(customers) cases: an hour or more apart.
        customer = customers[n % len(customers)]
        base = {"agency": agency, "service": service, "channel": channel, "case_id": case_id,
                "customer_ref": customer}  # fmt: skip

        def interaction(kind: str, at: float, suffix: str, base: dict[str, Any] = base,
                        **extra: Any) -> None:  # fmt: skip
            event = {**base, "event_id": f"{base['case_id']}-{suffix}",
                     "occurred_at": rfc3339(at, "seconds"), "kind": kind, **extra}  # fmt: skip
            timed.append((at, "interaction", event))

        interaction("opened", opened, "open")
        first = opened + rng.choice([60, 600, 3600, 7200, 20_000])
        interaction("first_response", first, "first")
        close = first + rng.choice([300, 1800, 9000])
        if rng.random() < 0.15:
            to_agency = "irs" if agency != "irs" else "ssa"
            interaction(
                "transferred",
                first + 60,
                "xfer",
                to_agency=to_agency,
                to_service="refunds" if to_agency == "irs" else "retirement",
            )
        outcome = rng.choices(["resolved", "abandoned", "self_service_completed"], [7, 2, 1])[0]
        interaction(outcome, close, "close")
        if rng.random() < 0.8:
            feedback: dict[str, Any] = {
                "event_id": f"{case_id}-survey", "occurred_at": rfc3339(close + 120, "seconds"),
                "agency": agency, "service": service, "channel": channel,
                "customer_ref": customer, "csat": rng.randint(1, 5),
            }  # fmt: skip
            if rng.random() < 0.5:
                feedback["drivers"] = {"trust": rng.randint(1, 5), "ease": rng.randint(1, 5)}
            comment = rng.choice(COMMENTS)
            if comment:
                feedback["comment"] = comment
            timed.append((close + 120, "feedback", feedback))
    # Publish order: event time, except first_response of every 7th case goes before its
    # opened event (out of order), plus exact redeliveries and far-late stragglers.
    timed.sort(key=lambda item: item[0])
    log = [(kind, event) for _, kind, event in timed]
    for index, (_, event) in enumerate(log):
        if event.get("kind") == "first_response" and int(event["case_id"][5:]) % 7 == 0:
            opened_at = next(
                i
                for i, (_, e) in enumerate(log)
                if e.get("case_id") == event["case_id"] and e.get("kind") == "opened"
            )
            log.insert(opened_at, log.pop(index))
    for index in sorted(rng.sample(range(len(log)), len(log) // 25), reverse=True):
        log.insert(min(len(log), index + rng.randint(1, 20)), log[index])
    late_time = START - 3 * 86_400
    for n in range(6):
        group = GROUPS[n % len(GROUPS)]
        log.append(("feedback", {
            "event_id": f"late-{n}", "occurred_at": rfc3339(late_time + n, "seconds"),
            "agency": group[0], "service": group[1], "channel": group[2], "csat": 5,
        }))  # fmt: skip
    # Trailing events, two days on, push every group's event time past the log, so that the
    # log's windows become final for every standard.
    end = START + cases * spacing + 2 * 86_400
    for n, (agency, service, channel) in enumerate(GROUPS):
        base = {"agency": agency, "service": service, "channel": channel}
        log.append(("feedback", {
            **base, "event_id": f"tail-{n}-survey", "occurred_at": rfc3339(end, "seconds"),
            "csat": 4, "drivers": {"trust": 4}, "comment": "Fine.",
        }))  # fmt: skip
        for k, kind in enumerate(["opened", "first_response", "resolved"]):
            log.append(("interaction", {
                **base, "event_id": f"tail-{n}-{kind}", "occurred_at": rfc3339(end + k, "seconds"),
                "case_id": f"tail-case-{n}", "customer_ref": f"tail-{n}", "kind": kind,
            }))  # fmt: skip
    return log


def generate_backlog(
    hours: float = 10.0, cases: int = 600, disorder: float = 300.0, redelivered: float = 0.05,
    seed: int = 41,
) -> tuple[list[tuple[str, dict[str, Any]]], float]:  # fmt: skip
    """A case log of ``hours`` of event time, published in one go: (log, tail_start).

    Publish order is event time plus a jitter below ``disorder`` seconds, so no event comes
    more than ``disorder`` after a later one; a ``redelivered`` share of events is repeated a
    few records on (a redelivery, which the workers drop). A tail case per group, a day after
    the log, moves event time on so that every window of the log can become final; windows
    ending at or after ``tail_start`` are not the log's.
    """
    rng = random.Random(seed)
    span = hours * 3600
    timed: list[tuple[float, dict[str, Any]]] = []
    for n in range(cases):
        opened = START + rng.uniform(0, span - 4 * 3600)
        agency, service, channel = rng.choice(GROUPS)
        base = {"agency": agency, "service": service, "channel": channel,
                "case_id": f"backlog-{n}"}  # fmt: skip

        def interaction(kind: str, at: float, base: dict[str, Any] = base, **extra: Any) -> None:
            event = {**base, "event_id": f"{base['case_id']}-{kind}",
                     "occurred_at": rfc3339(at), "kind": kind, **extra}  # fmt: skip
            timed.append((at + rng.uniform(0, disorder - 1), event))

        interaction("opened", opened)
        first = opened + rng.choice([60, 600, 1800, 3600, 7200])
        interaction("first_response", first)
        if rng.random() < 0.1:
            to_agency = "irs" if agency != "irs" else "ssa"
            interaction(
                "transferred",
                first + 30,
                to_agency=to_agency,
                to_service="refunds" if to_agency == "irs" else "retirement",
            )
        outcome = rng.choices(["resolved", "abandoned", "self_service_completed"], [7, 2, 1])[0]
        interaction(outcome, first + rng.choice([300, 1800, 5400]))
    timed.sort(key=lambda item: item[0])
    log = [("interaction", event) for _, event in timed]
    for index in sorted(rng.sample(range(len(log)), int(len(log) * redelivered)), reverse=True):
        log.insert(min(len(log), index + rng.randint(1, 3)), log[index])
    tail_start = START + span + 86_400
    for n, (agency, service, channel) in enumerate(GROUPS):
        for k, kind in enumerate(["opened", "first_response", "resolved"]):
            log.append(("interaction", {
                "agency": agency, "service": service, "channel": channel,
                "event_id": f"backlog-tail-{n}-{kind}", "occurred_at": rfc3339(tail_start + k),
                "case_id": f"backlog-tail-{n}", "kind": kind,
            }))  # fmt: skip
    return log, tail_start
