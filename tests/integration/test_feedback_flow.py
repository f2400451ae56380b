"""End to end through the embedded Tansu broker and a real `servicepulse worker` process."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from textblob import TextBlob

from servicepulse.processors.sentiment import score_comment
from servicepulse.streams.settings import Settings
from tests.integration.support import consume, produce, values

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


async def test_valid_feedback_is_scored_with_textblob_values(settings: Settings, start_worker):
    worker = start_worker().start()
    events = [feedback(n) for n in range(120)]
    await produce(settings.kafka_bootstrap, settings.topic_feedback,
                  [(None, encode(event)) for event in events])  # fmt: skip
    records = await consume(
        settings.kafka_bootstrap, [settings.topic_scored], lambda got: len(got) >= len(events)
    )
    scored = {doc["event_id"]: doc for doc in values(records)}
    assert sorted(scored) == sorted(event["event_id"] for event in events)
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
    metrics = worker.metrics_text()
    assert 'servicepulse_events_deadlettered_total{category="oversize",topic="feedback.events"}' \
        in metrics  # fmt: skip


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
