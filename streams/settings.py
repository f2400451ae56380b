"""One validated settings object, read from `SERVICEPULSE_*` environment variables.

Faust reads its own unprefixed variables (BROKER_URL, WEB_PORT, …); the prefix keeps ours apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from processors.decoding import DEFAULT_MAX_EVENT_BYTES


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
    max_event_bytes: int = Field(
        DEFAULT_MAX_EVENT_BYTES, ge=256, description="Larger record values are dead-lettered"
    )
    dedupe_horizon_seconds: float = Field(
        86_400.0, gt=0, description="A repeated event_id within this horizon is dropped"
    )
    rebalance_timeout_seconds: float = Field(6.0, gt=0, description="Consumer rebalance timeout")
    session_timeout_seconds: float = Field(6.0, gt=0, description="Consumer session timeout")
    heartbeat_interval_seconds: float = Field(1.0, gt=0, description="Consumer heartbeat")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server.strip()!r} is not host:port")
        return value

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
            name = "SERVICEPULSE_" + "_".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{name}={error.get('input')!r}: {error['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
