"""streams.settings: defaults, SERVICEPULSE_* overrides and errors that name the variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from servicepulse.processors.decoding import DEFAULT_MAX_EVENT_BYTES
from servicepulse.streams.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("SERVICEPULSE_"):
            monkeypatch.delenv(name)


DEFAULTS: dict[str, object] = {
    "kafka_bootstrap": "127.0.0.1:9092",
    "bootstrap_servers": ["127.0.0.1:9092"],
    "app_id": "servicepulse",
    "web_host": "0.0.0.0",
    "web_port": 6066,
    "data_dir": Path(".servicepulse"),
    "partitions": 4,
    "replication_factor": 1,
    "processing_guarantee": "at_least_once",
    "table_store": "memory://",
    "topic_feedback": "feedback.events",
    "topic_interactions": "interaction.events",
    "topic_scored": "feedback.scored",
    "topic_deadletter": "events.deadletter",
    "max_event_bytes": DEFAULT_MAX_EVENT_BYTES,
    "dedupe_horizon_seconds": 86_400.0,
    "producer_linger_seconds": 0.05,
    "log_level": "info",
    "event_loop": "uvloop",
}

# (variable without the SERVICEPULSE_ prefix, its value, the setting it sets, the parsed value)
OVERRIDES: list[tuple[str, str, str, object]] = [
    ("KAFKA_BOOTSTRAP", "kafka-1:9092, kafka-2:19092", "bootstrap_servers",
     ["kafka-1:9092", "kafka-2:19092"]),
    ("APP_ID", "sp-test", "app_id", "sp-test"),
    ("WEB_PORT", "7070", "web_port", 7070),
    ("DATA_DIR", "/tmp/sp-state", "data_dir", Path("/tmp/sp-state")),
    ("PARTITIONS", "12", "partitions", 12),
    ("PROCESSING_GUARANTEE", "exactly_once", "processing_guarantee", "exactly_once"),
    ("TOPIC_SCORED", "scored.v1", "topic_scored", "scored.v1"),
    ("MAX_EVENT_BYTES", "1024", "max_event_bytes", 1024),
    ("DEDUPE_HORIZON_SECONDS", "3600.5", "dedupe_horizon_seconds", 3600.5),
    ("LOG_LEVEL", "debug", "log_level", "debug"),
    ("EVENT_LOOP", "asyncio", "event_loop", "asyncio"),
]  # fmt: skip


def test_defaults() -> None:
    settings = load_settings()
    assert {name: getattr(settings, name) for name in DEFAULTS} == DEFAULTS


def test_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value, _, _ in OVERRIDES:
        monkeypatch.setenv(f"SERVICEPULSE_{variable}", value)
    settings = load_settings()
    got = {name: getattr(settings, name) for _, _, name, _ in OVERRIDES}
    assert got == {name: expected for _, _, name, expected in OVERRIDES}


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # Faust reads WEB_PORT / BROKER_URL itself; they must not leak into our settings.
    monkeypatch.setenv("WEB_PORT", "1234")
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "elsewhere:1")
    settings = load_settings()
    assert settings.web_port == 6066
    assert settings.kafka_bootstrap == "127.0.0.1:9092"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SERVICEPULSE_WEB_PORT", "99999"),
        ("SERVICEPULSE_WEB_PORT", "0"),
        ("SERVICEPULSE_WEB_PORT", "http"),
        ("SERVICEPULSE_KAFKA_BOOTSTRAP", "nohost"),
        ("SERVICEPULSE_KAFKA_BOOTSTRAP", "host:port"),
        ("SERVICEPULSE_KAFKA_BOOTSTRAP", "host:70000"),
        ("SERVICEPULSE_KAFKA_BOOTSTRAP", ":9092"),
        ("SERVICEPULSE_KAFKA_BOOTSTRAP", "good:9092,nohost"),
        ("SERVICEPULSE_PROCESSING_GUARANTEE", "maybe"),
        ("SERVICEPULSE_APP_ID", "has space"),
        ("SERVICEPULSE_PARTITIONS", "0"),
        ("SERVICEPULSE_MAX_EVENT_BYTES", "10"),
        ("SERVICEPULSE_DEDUPE_HORIZON_SECONDS", "0"),
        ("SERVICEPULSE_LOG_LEVEL", "verbose"),
        ("SERVICEPULSE_GC_YOUNG_THRESHOLD", "0"),
        ("SERVICEPULSE_GC_YOUNG_THRESHOLD", "100"),
        ("SERVICEPULSE_EVENT_LOOP", "trio"),
    ],
)
def test_invalid_value_names_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith("invalid settings: ")
    assert f"{variable}={value!r}" in message


def test_bootstrap_error_names_the_bad_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICEPULSE_KAFKA_BOOTSTRAP", "nohost")
    with pytest.raises(SettingsError, match="SERVICEPULSE_KAFKA_BOOTSTRAP") as info:
        load_settings()
    assert "'nohost' is not host:port" in str(info.value)


def test_several_bad_variables_all_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICEPULSE_WEB_PORT", "99999")
    monkeypatch.setenv("SERVICEPULSE_PROCESSING_GUARANTEE", "maybe")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "SERVICEPULSE_WEB_PORT" in message
    assert "SERVICEPULSE_PROCESSING_GUARANTEE" in message
    assert "; " in message


def test_settings_error_is_not_a_validation_error_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICEPULSE_WEB_PORT", "99999")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("bootstrap", "servers"),
    [
        ("localhost:9092", ["localhost:9092"]),
        ("a:1,b:2", ["a:1", "b:2"]),
        (" a:1 ,  b:2 ,c:3", ["a:1", "b:2", "c:3"]),
        ("[::1]:9092", ["[::1]:9092"]),
    ],
)
def test_bootstrap_servers_split(bootstrap: str, servers: list[str]) -> None:
    assert Settings(kafka_bootstrap=bootstrap).bootstrap_servers == servers


def test_internal_topics_derive_from_app_id(monkeypatch: pytest.MonkeyPatch) -> None:
    default = load_settings()
    assert default.internal_feedback_topic == "servicepulse-feedback-by-event-id"
    assert default.internal_interaction_topic == "servicepulse-interactions-by-case-id"
    monkeypatch.setenv("SERVICEPULSE_APP_ID", "sp.staging")
    custom = load_settings()
    assert custom.internal_feedback_topic == "sp.staging-feedback-by-event-id"
    assert custom.internal_interaction_topic == "sp.staging-interactions-by-case-id"


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError
        settings.web_port = 1  # type: ignore[misc]


def test_pseudonym_key_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SERVICEPULSE_PSEUDONYM_KEY", "short")
    with pytest.raises(SettingsError, match=r"SERVICEPULSE_PSEUDONYM_KEY\(_FILE\).*16 bytes"):
        load_settings()
    key_file = tmp_path / "key"
    key_file.write_text("a-key-from-a-mounted-secret\n")
    monkeypatch.setenv("SERVICEPULSE_PSEUDONYM_KEY_FILE", str(key_file))
    assert load_settings().pseudonym_key_bytes() == b"a-key-from-a-mounted-secret"
    monkeypatch.setenv("SERVICEPULSE_PSEUDONYM_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match=r"SERVICEPULSE_PSEUDONYM_KEY_FILE=.*is not a file"):
        load_settings()


def test_alert_window_must_be_a_configured_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICEPULSE_ALERT_WINDOW", "one_week")
    with pytest.raises(SettingsError, match="SERVICEPULSE_ALERT_WINDOW='one_week'"):
        load_settings()


def test_state_horizons(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.closed_case_retention_days == 30.0
    assert settings.journey_horizon_days == 90.0
    monkeypatch.setenv("SERVICEPULSE_CLOSED_CASE_RETENTION_DAYS", "1.5")
    monkeypatch.setenv("SERVICEPULSE_JOURNEY_HORIZON_DAYS", "2")
    monkeypatch.setenv("SERVICEPULSE_RUN_AROUND_WINDOW_DAYS", "2")
    settings = load_settings()
    assert (settings.closed_case_retention_days, settings.journey_horizon_days) == (1.5, 2.0)
    monkeypatch.setenv("SERVICEPULSE_JOURNEY_HORIZON_DAYS", "1")
    with pytest.raises(SettingsError, match="JOURNEY_HORIZON_DAYS=1 is shorter than"):
        load_settings()
    monkeypatch.setenv("SERVICEPULSE_CLOSED_CASE_RETENTION_DAYS", "0")
    with pytest.raises(SettingsError, match="CLOSED_CASE_RETENTION_DAYS"):
        load_settings()
