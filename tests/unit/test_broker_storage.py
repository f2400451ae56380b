"""How the embedded broker is configured for memory and for directory storage (no processes)."""

from __future__ import annotations

import json
from pathlib import Path

from servicepulse.devtools.broker import EmbeddedBroker, SeaweedStore


def test_memory_is_the_default_storage() -> None:
    broker = EmbeddedBroker(19092)
    assert broker.store is None
    assert broker.command()[-2:] == ["--storage-engine", "memory://tansu/"]


def test_directory_storage_points_tansu_at_its_own_seaweedfs(tmp_path: Path) -> None:
    broker = EmbeddedBroker(19092, storage=tmp_path / "broker")
    assert broker.store is not None
    assert broker.command()[-2:] == ["--storage-engine", "s3://tansu/"]
    env = broker.environment()
    assert env["AWS_ENDPOINT"] == f"http://127.0.0.1:{broker.store.ports['s3']}"
    assert env["AWS_ALLOW_HTTP"] == "true"


def test_seaweedfs_ports_are_chosen_once_per_directory(tmp_path: Path) -> None:
    first = SeaweedStore(tmp_path / "store")
    again = SeaweedStore(tmp_path / "store")
    assert first.ports == again.ports
    saved = json.loads((tmp_path / "store" / "servicepulse-ports.json").read_text())
    assert saved == first.ports
    assert len(set(first.ports.values())) == len(SeaweedStore.PORTS)


def test_seaweedfs_runs_on_loopback_without_telemetry(tmp_path: Path) -> None:
    command = SeaweedStore(tmp_path / "store").command()
    assert "-master.telemetry=false" in command
    assert "-ip.bind=127.0.0.1" in command
    assert f"-bucket={SeaweedStore.BUCKET}" in command
