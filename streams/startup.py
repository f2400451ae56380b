"""What a worker checks before it creates anything on the broker.

Each failure is a ``StartupError`` whose text is one line naming the setting and the problem;
the CLI prints it and exits with the error's code (2: fix the configuration or the host,
3: the broker could not be reached in time), so a supervisor's log says what to fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

EXIT_CONFIGURATION = 2
EXIT_BROKER_UNREACHABLE = 3
# Between connection attempts: 0.5 s, doubling, at most 5 s (about 8 attempts in 30 s).
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 5.0


class StartupError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_CONFIGURATION) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def check_data_dir(path: Path) -> None:
    """The state directory exists (created if need be) and a file can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as err:
        raise StartupError(
            f"SERVICEPULSE_DATA_DIR={str(path)!r} is not a writable directory: "
            f"{err.strerror or err}"
        ) from None


def check_web_port(host: str, port: int) -> None:
    """Nothing else listens on the worker's HTTP address (Faust binds it only later, after
    joining the group: too late to fail cleanly)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise StartupError(f"SERVICEPULSE_WEB_HOST={host!r}: cannot resolve ({err})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As aiohttp binds: a port in TIME_WAIT is usable, one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            why = "in use by another process" if err.errno == errno.EADDRINUSE else err.strerror
            raise StartupError(
                f"SERVICEPULSE_WEB_HOST/SERVICEPULSE_WEB_PORT {host}:{port}: cannot listen: {why}"
            ) from None


@contextlib.contextmanager
def _quiet_kafka_client() -> Iterator[None]:
    # aiokafka logs every failed bootstrap at ERROR with a traceback; the attempts are
    # summarised here instead.
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        client_log.setLevel(level)


async def connect_admin(
    servers: list[str], wait_s: float, notify: Callable[[str], None]
) -> AIOKafkaAdminClient:
    """An admin client connected to the cluster, retrying for at most ``wait_s`` seconds.

    ``notify`` receives one line when the first attempt fails. Raises StartupError
    (EXIT_BROKER_UNREACHABLE) naming the servers and the last error once the time is up.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    delay, attempts = FIRST_RETRY_S, 0
    with _quiet_kafka_client():
        while True:
            attempts += 1
            admin = AIOKafkaAdminClient(bootstrap_servers=servers)
            try:
                remaining = max(deadline - loop.time(), 0.1)
                await asyncio.wait_for(admin.start(), timeout=remaining)
                return admin
            except Exception as err:  # any failure to connect: unreachable, refused, timeout
                await admin.close()
                last = str(err) or type(err).__name__  # aiokafka's text names its class
            if attempts == 1:
                notify(
                    f"Kafka at {','.join(servers)} is not reachable ({last}); "
                    f"retrying for up to {wait_s:g} s"
                )
            if loop.time() + delay > deadline:
                raise StartupError(
                    f"Kafka at {','.join(servers)} unreachable after {attempts} attempts in "
                    f"{wait_s:g} s (SERVICEPULSE_BROKER_WAIT_SECONDS); last error: {last}",
                    EXIT_BROKER_UNREACHABLE,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_S)
