"""How the embedded broker is configured for memory and for directory storage, and when it
counts as started (no broker processes)."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from servicepulse.devtools import broker as broker_module
from servicepulse.devtools.broker import BrokerStartError, EmbeddedBroker, SeaweedStore


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


def test_free_port_never_hands_out_a_port_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    offered = iter([47001, 47001, 47002, 47001, 47003])

    class Probe(socket.socket):
        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", next(offered))

    monkeypatch.setattr(broker_module, "_handed_out", set())
    monkeypatch.setattr(socket, "socket", Probe)
    assert [broker_module.free_port() for _ in range(3)] == [47001, 47002, 47003]


def test_port_pairs_never_repeat_when_the_kernel_hands_a_port_out_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The kernel may return a just-closed ephemeral port again (CI saw 's3' get the master's
    # port); and a port 10000 above another is that one's gRPC port.
    offered = iter([41000, 41000, 51000, 41000, 42000, 43000, 43000, 44000])
    monkeypatch.setattr(broker_module, "free_port", lambda: next(offered))
    monkeypatch.setattr(broker_module, "_bindable", lambda port: True)
    assert broker_module.free_port_pairs(4) == [41000, 42000, 43000, 44000]


def test_seaweedfs_runs_on_loopback_without_telemetry(tmp_path: Path) -> None:
    command = SeaweedStore(tmp_path / "store").command()
    assert "-master.telemetry=false" in command
    assert "-ip.bind=127.0.0.1" in command
    assert f"-bucket={SeaweedStore.BUCKET}" in command


class _OneShotServer:
    """A TCP server on loopback that handles each connection with `handle` in a thread."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.handle = handle
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.handle(conn)

    def close(self) -> None:
        self.sock.close()


def _read_request(conn: socket.socket) -> bytes:
    size = struct.unpack(">i", conn.recv(4, socket.MSG_WAITALL))[0]
    return conn.recv(size, socket.MSG_WAITALL)


def test_a_broker_that_closes_the_connection_is_not_ready() -> None:
    # What Tansu on a SeaweedFS not yet ready after a kill did: accept, then close.
    server = _OneShotServer(lambda conn: None)
    try:
        assert not broker_module._answers_metadata(server.port, 7)
    finally:
        server.close()


def test_a_broker_that_answers_metadata_is_ready() -> None:
    requests: list[bytes] = []

    def answer(conn: socket.socket) -> None:
        request = _read_request(conn)
        requests.append(request)
        correlation_id = struct.unpack(">i", request[4:8])[0]
        conn.sendall(struct.pack(">iii", 8, correlation_id, 0))

    server = _OneShotServer(answer)
    try:
        assert broker_module._answers_metadata(server.port, 7)
    finally:
        server.close()
    api_key, api_version, correlation_id = struct.unpack(">hhi", requests[0][:8])
    assert (api_key, api_version, correlation_id) == (3, 0, 7)  # Metadata v0


def test_start_fails_naming_the_port_when_metadata_is_never_answered() -> None:
    server = _OneShotServer(lambda conn: None)
    process = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(BrokerStartError, match=f"port {server.port} answered no metadata"):
            broker_module._wait_answering(process, server.port, "tansu", timeout=0.5)
    finally:
        process.kill()
        process.wait()
        server.close()
