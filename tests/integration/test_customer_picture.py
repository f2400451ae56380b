"""PII protection, journeys, benchmarks and the public feed through the real broker."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from textblob import TextBlob

from servicepulse.processors.pseudonym import pseudonymize
from tests.integration.support import consume, produce, wait_caught_up
from tests.integration.test_windows_flow import isolated_settings

pytestmark = pytest.mark.integration

KEY = "integration-test-pseudonym-key"  # what WorkerProcess sets
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
RAW_PII = ["jane.doe@example.com", "(202) 555-0143", "123-45-6789", "4111 1111 1111 1111"]
COMMENT = ("Terrible wait. Call me at (202) 555-0143 or write to jane.doe@example.com, my SSN "
           "is 123-45-6789 and I paid with card 4111 1111 1111 1111.")  # fmt: skip


def at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def read_everything(bootstrap: str, topics: list[str]) -> list[tuple[str, bytes]]:
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    found: list[tuple[str, bytes]] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                return found
            for tp, records in batch.items():
                found += [(tp.topic, (r.key or b"") + b" " + (r.value or b"")) for r in records]
    finally:
        await consumer.stop()


async def test_no_topic_servicepulse_writes_holds_raw_pii(broker, start_worker):
    settings, env = await isolated_settings(broker.bootstrap, "pii")
    start_worker(extra_env=env).start()
    feedback = {"event_id": "pii-1", "occurred_at": at(0), "agency": "ssa",
                "service": "retirement", "channel": "web", "csat": 1, "comment": COMMENT,
                "customer_ref": "jane.doe@example.com"}  # fmt: skip
    opened = {"event_id": "pii-2", "occurred_at": at(1), "agency": "ssa", "service": "retirement",
              "channel": "web", "case_id": "case-pii", "kind": "opened",
              "customer_ref": "+1 202 555 0143"}  # fmt: skip
    await produce(settings.kafka_bootstrap, settings.topic_feedback,
                  [(b"pii-1", json.dumps(feedback).encode())])  # fmt: skip
    await produce(settings.kafka_bootstrap, settings.topic_interactions,
                  [(b"case-pii", json.dumps(opened).encode())])  # fmt: skip
    records = await consume(settings.kafka_bootstrap, [settings.topic_scored],
                            lambda got: len(got) >= 1)  # fmt: skip
    scored = json.loads(records[0].value)
    # Sentiment is TextBlob's for the ORIGINAL text; only the redacted text is written.
    polarity, subjectivity = TextBlob(COMMENT).sentiment
    assert scored["sentiment"]["polarity"] == polarity
    assert scored["sentiment"]["subjectivity"] == subjectivity
    assert "[EMAIL]" in scored["comment"] and "[PHONE]" in scored["comment"]
    assert "[SSN]" in scored["comment"] and "[CARD]" in scored["comment"]
    assert scored["customer_ref"] == pseudonymize("jane.doe@example.com", KEY.encode())
    await consume(settings.kafka_bootstrap, [settings.topic_journeys],
                  lambda got: len(got) >= 2)  # fmt: skip
    await wait_caught_up(settings)
    # Every topic servicepulse writes — outputs, internal re-keyed topics, changelogs — but the
    # inputs (the publisher's own) and the dead-letter topic (original bytes, by design).
    written = [
        topic for topic in await all_topics(settings.kafka_bootstrap)
        if topic.startswith(settings.app_id) or topic.startswith("pii.")
    ]  # fmt: skip
    written = [t for t in written if t not in (settings.topic_feedback,
                                               settings.topic_interactions,
                                               settings.topic_deadletter)]  # fmt: skip
    assert any(topic.endswith("-changelog") for topic in written), written
    for topic, payload in await read_everything(settings.kafka_bootstrap, written):
        for secret in [*RAW_PII, "202 555 0143", "2025550143"]:
            assert secret.encode() not in payload, (topic, secret)


async def all_topics(bootstrap: str) -> list[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        return sorted(await consumer.topics())
    finally:
        await consumer.stop()


def test_worker_refuses_to_start_without_a_pseudonym_key(broker, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "SERVICEPULSE_KAFKA_BOOTSTRAP": broker.bootstrap,
           "SERVICEPULSE_DATA_DIR": str(tmp_path)}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "servicepulse.streams.cli", "worker"], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "SERVICEPULSE_PSEUDONYM_KEY" in done.stderr


def case_events(case: str, customer: str, agency: str, start: float, transfers: int
                ) -> list[dict[str, Any]]:  # fmt: skip
    base = {"agency": agency, "service": "benefits", "channel": "phone", "case_id": case,
            "customer_ref": customer}  # fmt: skip
    events = [{**base, "event_id": f"{case}-open", "occurred_at": at(start), "kind": "opened"},
              {**base, "event_id": f"{case}-first", "occurred_at": at(start + 5),
               "kind": "first_response"}]  # fmt: skip
    for n in range(transfers):
        events.append(
            {
                **base,
                "event_id": f"{case}-xfer-{n}",
                "occurred_at": at(start + 6 + n),
                "kind": "transferred",
                "to_agency": "irs" if n % 2 == 0 else "ssa",
            }
        )
    events.append({**base, "event_id": f"{case}-close", "occurred_at": at(start + 30),
                   "kind": "resolved"})  # fmt: skip
    return events


async def publish(settings: Any, interactions: list[dict[str, Any]],
                  surveys: list[dict[str, Any]]) -> None:  # fmt: skip
    await produce(
        settings.kafka_bootstrap,
        settings.topic_interactions,
        [(e["case_id"].encode(), json.dumps(e).encode()) for e in interactions],
    )
    await produce(
        settings.kafka_bootstrap,
        settings.topic_feedback,
        [(e["event_id"].encode(), json.dumps(e).encode()) for e in surveys],
    )


async def test_journeys_flag_run_around_and_feed_benchmarks_and_public_feed(broker, start_worker):
    settings, env = await isolated_settings(broker.bootstrap, "journey")
    env["SERVICEPULSE_GRACE_SECONDS"] = "600"
    start_worker(extra_env=env).start()
    interactions = []
    # c-run: one case transferred three times -> run-around; c-calm: two quiet cases.
    interactions += case_events("case-run", "c-run", "va", 0, transfers=3)
    interactions += case_events("case-calm-1", "c-calm", "va", 2, transfers=0)
    interactions += case_events("case-calm-2", "c-calm", "va", 90, transfers=0)
    for n in range(30):  # other agencies' phone channel: peers for the benchmark
        interactions += case_events(f"case-peer-{n}", f"c-peer-{n}", ["ssa", "irs"][n % 2],
                                    3 + n, transfers=0)  # fmt: skip
    surveys = [{"event_id": f"s-{n}", "occurred_at": at(10 + n), "agency": "va",
                "service": "benefits", "channel": "phone", "csat": 5 if n % 4 else 2,
                "customer_ref": "c-calm"} for n in range(15)]  # fmt: skip
    await publish(settings, interactions, surveys)
    # Two days later (published once the above is in), quiet traffic pushes event time on,
    # so day windows close; published together, it could overtake them and make them late.
    await wait_caught_up(settings)
    tail_survey = {"event_id": "s-tail", "occurred_at": at(2 * 24 * 60), "agency": "va",
                   "service": "benefits", "channel": "phone", "csat": 5}  # fmt: skip
    await publish(settings, case_events("case-tail", "c-tail", "va", 2 * 24 * 60, transfers=0),
                  [tail_survey])  # fmt: skip

    def latest(records: list[Any]) -> dict[str, dict[str, Any]]:
        return {r.key.decode(): json.loads(r.value) for r in records}

    journeys = latest(await consume(
        settings.kafka_bootstrap, [settings.topic_journeys],
        lambda got: {"c-run", "c-calm", "c-tail"} <= set(latest(got)), settle=3.0,
    ))  # fmt: skip
    assert journeys["c-run"]["run_around"] is True
    assert "transfers_per_case" in journeys["c-run"]["run_around_reasons"]
    assert journeys["c-calm"]["run_around"] is False
    assert journeys["c-calm"]["contacts"] == 2

    # run_around_rate is a standard with windows like any other.
    def run_around_hit(record: Any) -> bool:
        window = json.loads(record.value)
        return bool(window["standard"] == "run_around_rate" and window["agency"] == "va"
                    and window.get("hits", 0) >= 1)  # fmt: skip

    # Waits for the window the run-around case lands in, not merely the first run-around final
    # (another group's may come first); consume fails if it never appears.
    windows = await consume(
        settings.kafka_bootstrap, [settings.topic_windows],
        lambda got: any(run_around_hit(r) for r in got),
    )  # fmt: skip
    assert any(run_around_hit(r) for r in windows)
    benchmarks = await consume(
        settings.kafka_bootstrap, [settings.topic_benchmarks],
        lambda got: any(json.loads(r.value)["peer_count"] >= 3 for r in got),
    )  # fmt: skip
    ranked = [json.loads(r.value) for r in benchmarks]
    assert all(0 <= b["percentile_rank"] <= 100 for b in ranked)
    assert {b["peer_by"] for b in ranked} == {"channel"}
    public = await consume(
        settings.kafka_bootstrap, [settings.topic_public],
        lambda got: any(json.loads(r.value)["agency"] == "va" for r in got),
    )  # fmt: skip
    rows = [json.loads(r.value) for r in public]
    va = [row for row in rows if row["agency"] == "va" and row["day"] == "2026-11-02"][-1]
    assert va["suppressed"] is False and va["responses"] == 15
    assert va["satisfaction_share"] == round(11 / 15, 3)
    # Fewer than 10 responses: suppressed, with no figures at all.
    assert all(set(row) == {"day", "agency", "service", "suppressed"}
               for row in rows if row["suppressed"])  # fmt: skip
    assert all("comment" not in json.dumps(row) for row in rows)


async def test_public_feed_day_includes_a_quiet_channel(broker, start_worker):
    """The web channel goes quiet after one answer: the watermark still closes its day with
    the phone channel's, so the day's last row counts both (none published late or lost)."""
    settings, env = await isolated_settings(broker.bootstrap, "publicdays")
    env["SERVICEPULSE_GRACE_SECONDS"] = "600"
    env["SERVICEPULSE_PUBLIC_DAYS_RETENTION_DAYS"] = "1"
    env["SERVICEPULSE_IDLE_TIMEOUT_SECONDS"] = "5"
    worker = start_worker(extra_env=env).start()
    day = 24 * 60  # minutes

    def survey(name: str, minutes: float, channel: str = "phone") -> dict[str, Any]:
        return {"event_id": f"pd-{name}", "occurred_at": at(minutes), "agency": "va",
                "service": "benefits", "channel": channel, "csat": 5}  # fmt: skip

    steps = [
        # 2026-11-02: twelve phone answers and one web answer; then web goes quiet.
        [survey(f"phone-{n}", 60 + n) for n in range(12)] + [survey("web-1", 90, "web")],
        [survey("phone-later", 2 * day + 240)],  # moves the watermark past 11-02 and 11-03
    ]
    for step in steps:
        await publish(settings, [], step)
        await wait_caught_up(settings)

    def day_rows(records: list[Any]) -> list[dict[str, Any]]:
        return [row for r in records if (row := json.loads(r.value))["day"] == "2026-11-02"]

    rows = day_rows(await consume(
        settings.kafka_bootstrap, [settings.topic_public],
        lambda got: any(row.get("responses") == 13 for row in day_rows(got)), settle=3.0,
    ))  # fmt: skip
    assert rows[-1].get("responses") == 13
    expired = [line for line in worker.metrics_text().splitlines()
               if line.startswith("servicepulse_public_finals_expired_total ")]  # fmt: skip
    assert expired in ([], ["servicepulse_public_finals_expired_total 0.0"])
