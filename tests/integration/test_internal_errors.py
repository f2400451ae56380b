"""Garbage on every internal topic: dead-lettered as internal_error, and every agent goes on."""

from __future__ import annotations

import base64
import json
import time

import pytest
from aiokafka import AIOKafkaProducer

from servicepulse.processors import envelope
from servicepulse.processors.envelope import EventRecord
from servicepulse.processors.records import SourcePosition
from servicepulse.schemas.models import InteractionEvent
from servicepulse.streams import topology
from servicepulse.streams.settings import Settings
from tests.integration.support import consume, wait_caught_up, wait_for
from tests.integration.test_customer_picture import at, case_events, publish
from tests.integration.test_windows_flow import isolated_settings

pytestmark = pytest.mark.integration

INTERNAL = [spec for spec in topology.TOPICS if spec.role == "internal"]


def garbage(spec: topology.Topic) -> list[bytes]:
    """Not JSON at all, and a record of a type the topic carries but that we did not write."""
    claimed = sorted(spec.accepts)[0]
    return [b"\xff not ours", json.dumps({"type": claimed, "from": "elsewhere"}).encode()]


async def feed_garbage(settings: Settings) -> list[tuple[str, int, bytes]]:
    """The garbage into every partition of every internal topic, before anything good."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    sent = []
    try:
        for spec in INTERNAL:
            for partition in range(spec.partitions(settings)):
                for value in garbage(spec):
                    await producer.send_and_wait(
                        spec.name(settings), value=value, key=b"garbage", partition=partition
                    )
                    sent.append((spec.name(settings), partition, value))
    finally:
        await producer.stop()
    return sent


async def test_every_agent_dead_letters_garbage_and_processes_the_next_record(broker, start_worker):
    settings, env = await isolated_settings(broker.bootstrap, "garbage")
    env["SERVICEPULSE_GRACE_SECONDS"] = "600"
    worker = start_worker(extra_env=env).start()
    sent = await feed_garbage(settings)
    # Every garbage record is dead-lettered before any good record exists.
    letters = [json.loads(r.value) for r in await consume(
        settings.kafka_bootstrap, [settings.topic_deadletter],
        lambda got: len(got) >= len(sent), timeout=120.0,
    )]  # fmt: skip
    assert {letter["category"] for letter in letters} == {"internal_error"}
    carried = {spec.name(settings): spec.carries for spec in INTERNAL}
    assert sorted(
        (letter["source"]["topic"], letter["source"]["partition"],
         base64.b64decode(letter["original"]))
        for letter in letters
    ) == sorted(sent)  # fmt: skip
    for letter in letters:
        assert letter["expected_type"] == carried[letter["source"]["topic"]]
    for spec in INTERNAL:  # counted once acknowledged, which may come just after a reader sees it
        counted = (f'servicepulse_events_deadlettered_total{{category="internal_error",'
                   f'topic="{spec.name(settings)}"}}')  # fmt: skip
        wait_for(lambda line=counted: line in worker.metrics_text(), 30, counted)
    assert "Traceback" in worker.log_tail(2000)

    # Then good records reach every agent, and every flow's output appears.
    await good_records_reach_every_agent(settings)


async def test_an_event_that_fails_in_an_events_record_is_dead_lettered_alone(broker, start_worker):
    """Ingest sends the events of one partition as one record (streams.batching): one event
    an agent cannot handle must not take the others with it."""
    settings, env = await isolated_settings(broker.bootstrap, "one-bad-event")
    start_worker(extra_env=env).start()
    events = []
    for n, ref in enumerate(["c-1", None, "c-3"]):
        fields = {"event_id": f"e-{n}", "occurred_at": at(n), "agency": "va",
                  "service": "benefits", "channel": "phone", "case_id": f"case-{n}",
                  "kind": "opened"}  # fmt: skip
        event = InteractionEvent.model_validate(
            fields if ref is None else {**fields, "customer_ref": ref}
        )
        source = SourcePosition(settings.topic_interactions, 0, n)
        events.append(EventRecord(event, source, time.time()))
    encoded = [envelope.encode(record) for record in events]
    # Journeys follows customers: the event without a customer_ref fails there.
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.internal_contact_topic, value=envelope.encode_events(encoded), partition=0
        )
    finally:
        await producer.stop()
    (letter,) = [json.loads(r.value) for r in await consume(
        settings.kafka_bootstrap, [settings.topic_deadletter], lambda got: len(got) >= 1,
        timeout=120.0,
    )]  # fmt: skip
    assert letter["category"] == "internal_error" and "customer_ref" in letter["reason"]
    assert base64.b64decode(letter["original"]) == encoded[1]
    assert (letter["source"]["topic"], letter["source"]["partition"]) == (
        settings.internal_contact_topic, 0,
    )  # fmt: skip
    journeys = await consume(
        settings.kafka_bootstrap, [settings.topic_journeys], lambda got: len(got) >= 2,
        timeout=120.0,
    )  # fmt: skip
    assert sorted(json.loads(r.value)["customer_ref"] for r in journeys) == ["c-1", "c-3"]


async def good_records_reach_every_agent(settings: Settings) -> None:
    """Good events for every flow (va phone cases, one run-around, peers, csat surveys, then a
    case two days on so day windows close), and waits for each agent's output to appear
    (score-feedback, journeys, correlate-cases + standard-windows, peer-benchmarks, the public
    feed). Outputs already on the topics from before count: call it on fresh topics."""
    interactions = case_events("case-run", "c-run", "va", 0, transfers=3)
    for n in range(8):
        interactions += case_events(f"case-peer-{n}", f"c-peer-{n}", ["ssa", "irs"][n % 2],
                                    3 + n, transfers=0)  # fmt: skip
    surveys = [{"event_id": f"s-{n}", "occurred_at": at(10 + n), "agency": "va",
                "service": "benefits", "channel": "phone", "csat": 5,
                "customer_ref": "c-run"} for n in range(3)]  # fmt: skip
    await publish(settings, interactions, surveys)
    await wait_caught_up(settings)
    # Two days on in event time, so the day windows close and feed benchmarks and the feed.
    await publish(settings, case_events("case-tail", "c-tail", "va", 2 * 24 * 60, transfers=0),
                  [])  # fmt: skip

    outputs = {
        settings.topic_scored: lambda doc: doc["event_id"] == "s-0",  # score-feedback
        settings.topic_journeys: lambda doc: doc.get("customer_ref") is not None,  # journeys
        settings.topic_windows: lambda doc: (
            doc["final"]  # correlate-cases + standard-windows
            and doc["standard"] == "time_to_first_response"
        ),
        settings.topic_benchmarks: lambda doc: True,  # peer-benchmarks
        settings.topic_public: lambda doc: doc["agency"] == "va",  # public-performance
    }
    for topic, check in outputs.items():
        await consume(
            settings.kafka_bootstrap, [topic],
            lambda got, check=check: any(check(json.loads(r.value)) for r in got),
            timeout=120.0,
        )  # fmt: skip
