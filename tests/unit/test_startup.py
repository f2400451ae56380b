"""streams.startup: the checks a worker makes before it creates anything on the broker."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from servicepulse.streams.startup import (
    EXIT_BROKER_UNREACHABLE,
    StartupError,
    check_data_dir,
    check_web_port,
    connect_admin,
)


def test_a_missing_data_dir_is_created(tmp_path: Path) -> None:
    check_data_dir(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()
    assert list((tmp_path / "a" / "b").iterdir()) == []  # the probe file is gone


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_data_dir_is_refused_naming_the_setting(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StartupError, match=r"SERVICEPULSE_DATA_DIR=.*not a writable"):
            check_data_dir(tmp_path)
    finally:
        tmp_path.chmod(0o700)


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StartupError, match="SERVICEPULSE_DATA_DIR=") as caught:
        check_data_dir(tmp_path / "file")
    assert caught.value.exit_code == 2


def test_a_busy_web_port_is_refused_naming_host_and_port() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StartupError, match=f"127.0.0.1:{port}: cannot listen: in use"):
            check_web_port("127.0.0.1", port)
    check_web_port("127.0.0.1", port)  # free again


def test_an_unreachable_broker_is_one_error_after_bounded_retries() -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    notes: list[str] = []
    with pytest.raises(StartupError) as caught:
        asyncio.run(connect_admin([f"127.0.0.1:{port}"], 1.0, notes.append))
    assert caught.value.exit_code == EXIT_BROKER_UNREACHABLE
    assert f"Kafka at 127.0.0.1:{port} unreachable after" in str(caught.value)
    assert "SERVICEPULSE_BROKER_WAIT_SECONDS" in str(caught.value)
    assert len(notes) == 1 and "retrying for up to 1 s" in notes[0]


def test_a_data_dir_nobody_may_write_is_refused() -> None:
    # /proc refuses new entries even to root: the read-only case whoever runs the tests.
    with pytest.raises(StartupError, match="SERVICEPULSE_DATA_DIR='/proc/servicepulse-x'"):
        check_data_dir(Path("/proc/servicepulse-x"))
