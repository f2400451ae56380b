"""One validated settings object, read from `SERVICEPULSE_*` environment variables.

Faust reads its own unprefixed variables (BROKER_URL, WEB_PORT, …); the prefix keeps ours apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicepulse.processors.decoding import (
    DEFAULT_MAX_EVENT_AGE_S,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_FUTURE_SKEW_S,
    EventTimeBounds,
)
from servicepulse.processors.windows import WindowSpec
from servicepulse.streams.event_loop import EventLoopKind

DEFAULT_STANDARDS_FILE = Path(__file__).with_name("standards.default.yaml")
MIN_PSEUDONYM_KEY_BYTES = 16


def parse_window_specs(text: str) -> tuple[WindowSpec, ...]:
    """ "five_minutes=300/300,one_hour=3600/300" -> WindowSpecs (ValueError says which part)."""
    specs = []
    for part in text.split(","):
        name, _, sizes = part.strip().partition("=")
        size, _, step = sizes.partition("/")
        if not name or not size.isdigit() or not step.isdigit():
            raise ValueError(f"{part.strip()!r} is not name=size_seconds/step_seconds")
        specs.append(WindowSpec(name, int(size), int(step)))
    if len({spec.name for spec in specs}) != len(specs):
        raise ValueError("window names must be unique")
    return tuple(specs)


class SettingsError(Exception):
    """A setting is invalid; the message names the environment variable and the problem."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVICEPULSE_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port"
    )
    app_id: str = Field(
        "servicepulse", pattern=r"^[A-Za-z0-9._-]+$", description="Consumer group and prefix"
    )
    web_host: str = Field("0.0.0.0", description="Address the worker's HTTP server binds")
    web_port: int = Field(6066, ge=1, le=65535, description="Worker HTTP port serving /metrics")
    data_dir: Path = Field(Path(".servicepulse"), description="Worker state directory")
    partitions: int = Field(4, ge=1, le=1024, description="Partitions of topics it creates")
    replication_factor: int = Field(1, ge=1, le=16, description="Replicas of topics it creates")
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once", description="exactly_once needs Kafka transactions (not on Tansu)"
    )
    table_store: str = Field("memory://", description="Faust table store URL (rocksdb:// too)")
    topic_feedback: str = Field("feedback.events", description="Input: feedback events")
    topic_interactions: str = Field("interaction.events", description="Input: interactions")
    topic_scored: str = Field("feedback.scored", description="Output: scored feedback")
    topic_deadletter: str = Field("events.deadletter", description="Output: rejected records")
    topic_windows: str = Field("service.windows", description="Output: window results")
    topic_late: str = Field("events.late", description="Output: observations past grace")
    topic_alerts: str = Field("service.alerts", description="Output: breach alerts")
    alert_window: str = Field(
        "one_hour", description="Window family whose final results drive the alerts"
    )
    alert_for_seconds: float = Field(
        600.0, ge=0, description="Event-time a breach must persist before its alert fires"
    )
    alert_resolve_seconds: float = Field(
        900.0, ge=0, description="Event-time a recovery must persist before the alert resolves"
    )
    runbook_base_url: str = Field(
        "https://servicepulse.dev/runbooks/standards",
        description="Alert runbook links: <base>#<standard>",
    )
    topic_journeys: str = Field("customer.journeys", description="Output: customer journeys")
    topic_benchmarks: str = Field("service.benchmarks", description="Output: peer benchmarks")
    topic_public: str = Field(
        "public.performance", description="Output: public-safe daily performance"
    )
    public_min_responses: int = Field(
        10, ge=1, description="public.performance suppresses groups with fewer responses"
    )
    benchmark_window: str = Field(
        "one_hour", description="Window family whose finals feed the peer benchmarks"
    )
    journey_horizon_days: float = Field(
        90.0, gt=0, description="A journey idle this long (event time) is forgotten"
    )
    public_days_retention_days: float = Field(
        7.0, gt=0, description="A day of the public feed is kept this long past its end"
    )
    closed_case_retention_days: float = Field(
        30.0, gt=0, description="A closed case is forgotten this long (event time) after closing"
    )
    run_around_transfers: int = Field(3, ge=1, description="Run-around: transfers in a case")
    run_around_agencies: int = Field(2, ge=2, description="Run-around: agencies for one need")
    run_around_repeats: int = Field(3, ge=2, description="Run-around: openings for one need")
    run_around_window_days: int = Field(30, ge=1, description="Run-around: repeat window")
    pseudonym_key: SecretStr | None = Field(
        None, description="HMAC-SHA256 key for customer_ref values that are raw PII"
    )
    pseudonym_key_file: Path | None = Field(
        None, description="File holding the pseudonym key (a mounted secret)"
    )
    demo_mode: bool = Field(
        False, description="Allows starting without a pseudonym key (a random one per run)"
    )
    standards: Path = Field(
        DEFAULT_STANDARDS_FILE, description="Service standards YAML (default: shipped example)"
    )
    windows: str = Field(
        "five_minutes=300/300,one_hour=3600/300,one_day=86400/3600",
        description="Window families as name=size/step seconds, comma-separated",
    )
    grace_seconds: float = Field(
        600.0, ge=0, description="Allowed disorder: the watermark trails event time by this"
    )
    idle_timeout_seconds: float = Field(
        30.0, gt=0, description="An input partition with nothing to read for this long is idle"
    )
    watermark_interval_seconds: float = Field(
        1.0, gt=0, description="How often each stage task sends its watermark downstream"
    )
    window_update_seconds: float = Field(
        5.0, gt=0, description="Minimum wall-clock seconds between updates of one window"
    )
    max_event_bytes: int = Field(
        DEFAULT_MAX_EVENT_BYTES, ge=256, description="Larger record values are dead-lettered"
    )
    max_future_skew_seconds: float = Field(
        DEFAULT_MAX_FUTURE_SKEW_S,
        gt=0,
        description="An event dated further ahead of the worker's clock is dead-lettered",
    )
    max_event_age_days: float = Field(
        DEFAULT_MAX_EVENT_AGE_S / 86_400,
        gt=0,
        description="An event older than this (worker's clock) is dead-lettered",
    )
    dedupe_horizon_seconds: float = Field(
        86_400.0, gt=0, description="A repeated event_id within this horizon is dropped"
    )
    broker_wait_seconds: float = Field(
        30.0, gt=0, description="How long a starting worker retries an unreachable Kafka"
    )
    topic_check_seconds: float = Field(
        15.0, gt=0, description="How often the worker checks that its topics still exist"
    )
    shutdown_timeout_seconds: float = Field(
        30.0, gt=0, description="After SIGTERM, how long a clean stop may take before exit"
    )
    rebalance_timeout_seconds: float = Field(6.0, gt=0, description="Consumer rebalance timeout")
    session_timeout_seconds: float = Field(6.0, gt=0, description="Consumer session timeout")
    heartbeat_interval_seconds: float = Field(1.0, gt=0, description="Consumer heartbeat")
    producer_max_batch_bytes: int = Field(
        16384, ge=1, description="Producer batch size per partition (aiokafka max_batch_size)"
    )
    producer_linger_seconds: float = Field(
        0.05, ge=0, description="Producer wait to fill a batch (aiokafka linger_ms, in seconds)"
    )
    consumer_fetch_max_wait_ms: int = Field(
        100,
        ge=0,
        le=60_000,
        description="Longest a consumer fetch waits on the broker for data (aiokafka "
        "fetch_max_wait_ms); 100 suits the embedded broker, 1500 (Faust's own) suits Kafka",
    )
    producer_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "none", description="Producer compression codec (aiokafka compression_type)"
    )
    metrics_min_interval_seconds: float = Field(
        5.0, ge=0, description="/metrics is rendered at most once per this many seconds"
    )
    gc_young_threshold: int = Field(
        50_000,
        ge=700,
        description="Allocations between two collections of Python's youngest generation "
        "(gc.set_threshold's first value; Python's own is 700)",
    )
    event_loop: EventLoopKind = Field(
        "uvloop",
        description="The worker's event loop: uvloop, or asyncio's own (streams.event_loop)",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server.strip()!r} is not host:port")
        return value

    @field_validator("windows")
    @classmethod
    def _window_specs(cls, value: str) -> str:
        parse_window_specs(value)
        return value

    @model_validator(mode="after")
    def _alert_window_exists(self) -> Settings:
        names = [spec.name for spec in parse_window_specs(self.windows)]
        for setting in ("alert_window", "benchmark_window"):
            if getattr(self, setting) not in names:
                raise ValueError(
                    f"SERVICEPULSE_{setting.upper()}={getattr(self, setting)!r} is not one of "
                    f"the windows in SERVICEPULSE_WINDOWS ({', '.join(names)})"
                )
        return self

    @model_validator(mode="after")
    def _journeys_cover_run_around_window(self) -> Settings:
        # A journey forgotten before the repeat window ends would hide repeat contacts.
        if self.journey_horizon_days < self.run_around_window_days:
            raise ValueError(
                f"SERVICEPULSE_JOURNEY_HORIZON_DAYS={self.journey_horizon_days:g} is shorter "
                f"than SERVICEPULSE_RUN_AROUND_WINDOW_DAYS={self.run_around_window_days}"
            )
        return self

    @model_validator(mode="after")
    def _pseudonym_key_usable(self) -> Settings:
        if self.pseudonym_key_file is not None and not self.pseudonym_key_file.is_file():
            raise ValueError(
                f"SERVICEPULSE_PSEUDONYM_KEY_FILE={str(self.pseudonym_key_file)!r} is not a file"
            )
        key = self.pseudonym_key_bytes()
        if key is not None and len(key) < MIN_PSEUDONYM_KEY_BYTES:
            raise ValueError(
                "SERVICEPULSE_PSEUDONYM_KEY(_FILE): the key must be at least "
                f"{MIN_PSEUDONYM_KEY_BYTES} bytes"
            )
        return self

    def event_time_bounds(self, now: float) -> EventTimeBounds:
        """The event times accepted at wall-clock time ``now``."""
        return EventTimeBounds(now, self.max_future_skew_seconds, self.max_event_age_days * 86_400)

    @property
    def window_specs(self) -> tuple[WindowSpec, ...]:
        return parse_window_specs(self.windows)

    @property
    def internal_observation_topic(self) -> str:
        """Standard observations keyed by agency|service|channel (one group, one partition)."""
        return f"{self.app_id}-observations-by-group"

    @property
    def internal_contact_topic(self) -> str:
        """Every event with a customer_ref, keyed by it: journeys and repeat contacts."""
        return f"{self.app_id}-events-by-customer"

    @property
    def internal_benchmark_topic(self) -> str:
        """Finals of the benchmark window, on ONE partition: ranking needs every peer."""
        return f"{self.app_id}-benchmark-inputs"

    @property
    def internal_daily_topic(self) -> str:
        """Calendar-day finals keyed by agency|service, for the public feed."""
        return f"{self.app_id}-daily-by-service"

    def pseudonym_key_bytes(self) -> bytes | None:
        """The configured key (the file wins over the variable); None if neither is set."""
        if self.pseudonym_key_file is not None:
            return self.pseudonym_key_file.read_bytes().strip()
        if self.pseudonym_key is not None:
            return self.pseudonym_key.get_secret_value().encode()
        return None

    @property
    def bootstrap_servers(self) -> list[str]:
        return [server.strip() for server in self.kafka_bootstrap.split(",")]

    @property
    def internal_feedback_topic(self) -> str:
        """Valid feedback re-keyed by event_id, so redeliveries meet their first copy."""
        return f"{self.app_id}-feedback-by-event-id"

    @property
    def internal_interaction_topic(self) -> str:
        """Valid interactions re-keyed by case_id, so a case's events meet in one partition."""
        return f"{self.app_id}-interactions-by-case-id"


def load_settings() -> Settings:
    """Settings from the environment, or SettingsError naming each bad variable."""
    try:
        return Settings()
    except ValidationError as err:
        problems = []
        for error in err.errors(include_url=False):
            if not error["loc"]:  # a rule across settings; its message names them
                problems.append(error["msg"].removeprefix("Value error, "))
                continue
            name = "SERVICEPULSE_" + "_".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{name}={error.get('input')!r}: {error['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
