"""End to end through the embedded Tansu broker and a real `servicepulse worker` process."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from textblob import TextBlob

from servicepulse.processors.sentiment import score_comment
from servicepulse.streams.settings import Settings
from tests.integration.support import consume, produce, values, wait_for

pytestmark = pytest.mark.integration

COMMENTS = [
    "The clerk was friendly and fixed my problem in ten minutes. Great service!",
    "I was transferred four times and nobody could answer my question.",
    "The form was confusing and the website kept crashing.",
    "It was fine.",
    "Appointment booked online, no waiting at all, very convenient.",
    "Terrible hold music, terrible wait, terrible outcome.",
]


def feedback(n: int, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": f"fb-{n}",
        "occurred_at": f"2026-11-02T08:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "agency": ["ssa", "irs", "va"][n % 3],
        "service": "benefits",
        "channel": ["web", "phone", "chat", "in_person"][n % 4],
        "customer_ref": f"c-{n % 17:04d}",
        "csat": n % 5 + 1,
    }
    if n % 6 != 5:
        event["comment"] = COMMENTS[n % len(COMMENTS)] + f" (visit {n})"
    event.update(overrides)
    return event


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


# uvloop is the default; asyncio's own loop is one setting away and must work as well.
@pytest.mark.parametrize(("event_loop", "loop_class"), [
    ("uvloop", "uvloop.Loop"), ("asyncio", "asyncio.unix_events._UnixSelectorEventLoop"),
])  # fmt: skip
async def test_valid_feedback_is_scored_with_textblob_values(
    settings: Settings, start_worker, event_loop: str, loop_class: str
):
    worker = start_worker(extra_env={"SERVICEPULSE_EVENT_LOOP": event_loop}).start()
    # Ids of this run only: the module's topics already hold the other loop's run.
    events = [feedback(n, event_id=f"fb-{event_loop}-{n}") for n in range(120)]
    await produce(settings.kafka_bootstrap, settings.topic_feedback,
                  [(None, encode(event)) for event in events])  # fmt: skip
    ids = {event["event_id"] for event in events}

    def ours(got: list[Any]) -> list[dict[str, Any]]:
        return [doc for doc in values(got) if doc["event_id"] in ids]

    records = await consume(
        settings.kafka_bootstrap, [settings.topic_scored], lambda got: len(ours(got)) >= len(ids)
    )
    scored = {doc["event_id"]: doc for doc in ours(records)}
    assert sorted(scored) == sorted(ids)
    assert f"event loop: {event_loop} ({loop_class})" in worker.log_tail(1000)
    for event in events:
        out = scored[event["event_id"]]
        for name, value in event.items():
            assert out[name] == value, name
        if "comment" in event:
            polarity, subjectivity = TextBlob(event["comment"]).sentiment
            assert out["sentiment"]["polarity"] == polarity
            assert out["sentiment"]["subjectivity"] == subjectivity
            # The label, its score and method are the label method's, on the original text.
            expected = score_comment(event["comment"])
            assert expected is not None
            assert out["sentiment"]["label"] == expected.label
            assert out["sentiment"]["label_score"] == expected.label_score
            assert out["sentiment"]["label_method"] == expected.label_method
        else:
            assert out["sentiment"] is None
        assert out["source"]["topic"] == settings.topic_feedback
        assert out["scored_at"].endswith("Z")
    metrics = worker.metrics_text()
    assert "servicepulse_feedback_scored_total" in metrics


BAD_RECORDS: list[tuple[str, bytes, str, str]] = [
    ("empty", b"", "empty", ""),
    ("not-utf8", b'{"event_id": "\xff\xfe"}', "not_utf8", "UTF-8"),
    ("malformed", b'{"event_id": "x",', "malformed_json", "JSON"),
    ("array", b"[1, 2, 3]", "not_object", "array"),
    ("missing-field", encode({k: v for k, v in feedback(1).items() if k != "agency"}),
     "schema_violation", "'agency'"),
    ("wrong-type", encode(feedback(2, csat="5")), "schema_violation", "'csat'"),
    ("enum", encode(feedback(3, channel="fax")), "schema_violation", "'channel'"),
    ("timestamp", encode(feedback(4, occurred_at="02/11/2026 08:00")),
     "schema_violation", "'occurred_at'"),
    ("rating-range", encode(feedback(5, csat=6)), "schema_violation", "'csat'"),
    ("oversize", encode(feedback(6, comment="x" * 70_000)), "oversize", "65536"),
    ("cloudevent-type", encode({"specversion": "1.0", "id": "ce-1", "source": "/ssa",
                                "type": "gov.example.unknown.v1", "data": feedback(7)}),
     "unknown_event_type", "'type'"),
    ("duplicate-key", encode(feedback(8))[:-1] + b', "csat": 1}', "malformed_json",
     "'csat' appears twice"),
    ("lone-surrogate", b'{"specversion": "1.0", "\\udc00x": 1}', "malformed_json",
     "lone surrogate"),
    ("deep", b'{"a": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", "nesting_too_deep", "32"),
    ("xml", encode({"specversion": "1.0", "id": "ce-2", "source": "/ssa",
                    "type": "gov.servicepulse.feedback.v1", "datacontenttype": "application/xml",
                    "data": feedback(9)}), "unsupported_content_type", "datacontenttype"),
    ("year-9999", encode(feedback(10, occurred_at="9999-12-31T23:59:59Z")),
     "event_time_out_of_range", "occurred_at"),
    ("year-1", encode(feedback(11, occurred_at="0001-01-01T00:00:00+14:00")),
     "event_time_out_of_range", "occurred_at"),
]  # fmt: skip


async def test_each_bad_input_is_dead_lettered_with_original_bytes(settings, start_worker):
    worker = start_worker().start()
    positions = await produce(
        settings.kafka_bootstrap,
        settings.topic_feedback,
        [(name.encode(), raw) for name, raw, _, _ in BAD_RECORDS],
    )
    records = await consume(
        settings.kafka_bootstrap,
        [settings.topic_deadletter],
        lambda got: {r.key for r in got} >= {name.encode() for name, *_ in BAD_RECORDS},
    )
    letters = {record.key.decode(): json.loads(record.value) for record in records if record.key}
    for (name, raw, category, reason_part), (partition, offset) in zip(
        BAD_RECORDS, positions, strict=True
    ):
        letter = letters[name]
        assert letter["category"] == category, name
        assert reason_part in letter["reason"], (name, letter["reason"])
        assert base64.b64decode(letter["original"]) == raw, name
        assert base64.b64decode(letter["original_key"]) == name.encode()
        assert letter["source"] == {
            "topic": settings.topic_feedback, "partition": partition, "offset": offset
        }  # fmt: skip
    # Counted when the broker acknowledged the dead letter, which may come just after a reader
    # sees it.
    oversize = 'servicepulse_events_deadlettered_total{category="oversize",topic="feedback.events"}'
    wait_for(lambda: oversize in worker.metrics_text(), 30, "the oversize dead letter counted")


async def test_poison_pills_stop_nothing_and_huge_values_are_dead_lettered_truncated(
    settings: Settings, start_worker
):
    """Issue 12's poison pills, then valid events: every valid one is scored, the pills are
    dead-lettered, the 5 MiB value truncated with its size and hash."""
    worker = start_worker(
        extra_env={
            "SERVICEPULSE_MAX_FUTURE_SKEW_SECONDS": "3600",
            "SERVICEPULSE_MAX_EVENT_AGE_DAYS": "3650",
        }
    ).start()
    huge = encode(feedback(900, event_id="huge", comment="y" * (5 << 20)))
    pills = [(b"pill-9999", encode(feedback(901, occurred_at="9999-12-31T23:59:59Z"))),
             (b"pill-future", encode(feedback(902, occurred_at="2100-01-01T00:00:00Z"))),
             (b"pill-huge", huge)]  # fmt: skip
    await produce(settings.kafka_bootstrap, settings.topic_feedback, pills, 8 << 20)
    interaction = {"event_id": "int-1", "occurred_at": "0001-01-01T00:00:00+14:00",
                   "agency": "ssa", "service": "benefits", "channel": "phone",
                   "case_id": "case-poison", "kind": "opened"}  # fmt: skip
    await produce(settings.kafka_bootstrap, settings.topic_interactions,
                  [(b"pill-year-1", encode(interaction))])  # fmt: skip
    valid = [feedback(n, event_id=f"after-pill-{n}") for n in range(1000, 1200)]
    await produce(settings.kafka_bootstrap, settings.topic_feedback,
                  [(None, encode(event)) for event in valid])  # fmt: skip
    wanted = {event["event_id"] for event in valid}
    scored = await consume(
        settings.kafka_bootstrap, [settings.topic_scored],
        lambda got: wanted <= {doc["event_id"] for doc in values(got)}, timeout=180,
    )  # fmt: skip
    assert wanted <= {doc["event_id"] for doc in values(scored)}
    pill_keys = {key for key, _ in pills} | {b"pill-year-1"}
    records = await consume(
        settings.kafka_bootstrap, [settings.topic_deadletter],
        lambda got: pill_keys <= {r.key for r in got}, timeout=60,
    )  # fmt: skip
    letters = {r.key: json.loads(r.value) for r in records if r.key in pill_keys}
    for key in (b"pill-9999", b"pill-future", b"pill-year-1"):
        assert letters[key]["category"] == "event_time_out_of_range", letters[key]
    letter = letters[b"pill-huge"]
    assert letter["category"] == "oversize"
    assert letter["original_truncated"] is True
    assert letter["original_size"] == len(huge)
    assert letter["original_sha256"] == hashlib.sha256(huge).hexdigest()
    assert base64.b64decode(letter["original"]) == huge[: 1 << 20]
    assert worker.process is not None and worker.process.poll() is None


async def test_redelivered_event_produces_one_output_even_across_restart(settings, start_worker):
    first = feedback(500, event_id="redelivered-1")
    other_key = feedback(501, event_id="redelivered-2")
    # The same event under different record keys still lands on one dedupe partition.
    await produce(settings.kafka_bootstrap, settings.topic_feedback, [
        (b"a", encode(first)), (b"b", encode(first)), (None, encode(other_key)),
        (b"c", encode(first)), (b"z", encode(other_key)),
    ])  # fmt: skip
    worker = start_worker().start()

    def ids(got):  # type: ignore[no-untyped-def]
        return [json.loads(r.value)["event_id"] for r in got]

    records = await consume(
        settings.kafka_bootstrap, [settings.topic_scored],
        lambda got: {"redelivered-1", "redelivered-2"} <= set(ids(got)), settle=3.0,
    )  # fmt: skip
    assert ids(records).count("redelivered-1") == 1
    assert ids(records).count("redelivered-2") == 1
    # A restarted worker restores the seen ids from the changelog and still drops the copy.
    worker.stop()
    await produce(settings.kafka_bootstrap, settings.topic_feedback, [(b"d", encode(first))])
    marker = feedback(502, event_id="after-restart")
    await produce(settings.kafka_bootstrap, settings.topic_feedback, [(None, encode(marker))])
    restarted = start_worker().start()
    records = await consume(
        settings.kafka_bootstrap, [settings.topic_scored],
        lambda got: "after-restart" in ids(got), settle=3.0,
    )  # fmt: skip
    assert ids(records).count("redelivered-1") == 1
    assert "servicepulse_events_duplicate_total" in restarted.metrics_text()


async def test_sigusr2_writes_what_the_worker_waits_for_and_it_runs_on(settings, start_worker):
    """The operator's state dump (streams.diagnose): every assigned partition's offsets, each
    agent, the held writes; the worker goes on processing afterwards."""
    worker = start_worker().start()

    def ids(got):  # type: ignore[no-untyped-def]
        return {doc["event_id"] for doc in values(got)}

    first = feedback(700, event_id="before-dump")
    await produce(settings.kafka_bootstrap, settings.topic_feedback, [(None, encode(first))])
    await consume(settings.kafka_bootstrap, [settings.topic_scored],
                  lambda got: "before-dump" in ids(got))  # fmt: skip
    dump = worker.diagnostics()
    for partition in range(settings.partitions):
        assert f"{settings.topic_feedback}[{partition}] read=" in dump
    assert "actor score-feedback" in dump
    assert "held writes: queued=" in dump
    after = feedback(701, event_id="after-dump")
    await produce(settings.kafka_bootstrap, settings.topic_feedback, [(None, encode(after))])
    await consume(settings.kafka_bootstrap, [settings.topic_scored],
                  lambda got: "after-dump" in ids(got))  # fmt: skip
    assert worker.process is not None and worker.process.poll() is None
