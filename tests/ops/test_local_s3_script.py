"""scripts/local_s3.py: secrets created private, and `down` signals only its own server."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from scripts.local_s3 import (
    LocalS3,
    free_port,
    is_server,
    server_command,
    stop_server,
    write_private,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """umask 0: a file created without an explicit mode would be world-readable."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_secret_file_is_created_0600(tmp_path, open_umask):
    fresh = tmp_path / "credentials.env"
    write_private(fresh, "export AWS_SECRET_ACCESS_KEY=abc\n")
    assert mode(fresh) == 0o600
    assert fresh.read_text() == "export AWS_SECRET_ACCESS_KEY=abc\n"


def test_secret_never_lands_in_an_existing_readable_file(tmp_path, open_umask):
    old = tmp_path / "s3.json"
    old.write_text("old")
    old.chmod(0o644)
    write_private(old, '{"secretKey": "new"}')
    assert mode(old) == 0o600 and old.read_text() == '{"secretKey": "new"}'


def sleeper(argv0: str, *args: str) -> subprocess.Popen:
    """A process group leader whose command line is ``argv0 -c ... args`` (a shell)."""
    process = subprocess.Popen(
        [argv0, "-c", "sleep 60; :", *args], executable="/bin/sh", start_new_session=True
    )
    deadline = time.monotonic() + 10
    while server_command(process.pid)[:1] != [argv0] and time.monotonic() < deadline:
        time.sleep(0.05)  # until the exec: before it, /proc shows this interpreter
    return process


def test_down_does_not_signal_a_process_that_reused_the_pid(tmp_path):
    other = sleeper("sh", "server", f"-dir={tmp_path / 'store'}")  # any process but weed
    try:
        (tmp_path / "pid").write_text(str(other.pid))
        message = stop_server(tmp_path)
        assert message.startswith(f"stale pid file: process {other.pid} is not the local S3")
        time.sleep(0.3)
        assert other.poll() is None  # still running: never signalled
        assert not (tmp_path / "pid").exists()
    finally:
        other.kill()
        other.wait()


def test_down_does_not_signal_another_folders_server(tmp_path):
    elsewhere = sleeper("weed", "server", f"-dir={tmp_path / 'other' / 'store'}")
    try:
        (tmp_path / "pid").write_text(str(elsewhere.pid))
        assert not is_server(elsewhere.pid, tmp_path)
        assert "no process signalled" in stop_server(tmp_path)
        assert elsewhere.poll() is None
    finally:
        elsewhere.kill()
        elsewhere.wait()


def test_down_with_a_dead_pid_only_removes_the_file(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / "pid").write_text(str(gone.pid))
    assert "no process signalled" in stop_server(tmp_path)
    assert not (tmp_path / "pid").exists()
    assert stop_server(tmp_path) == "no local S3 server running"


def test_down_stops_the_process_group_it_started(tmp_path):
    server = sleeper("weed", "server", f"-dir={tmp_path / 'store'}")
    (tmp_path / "pid").write_text(str(server.pid))
    assert is_server(server.pid, tmp_path)
    assert stop_server(tmp_path, grace_s=10) == f"stopped local S3 server (pid {server.pid})"
    assert server.wait(timeout=10) == -signal.SIGTERM
    assert not (tmp_path / "pid").exists()


@pytest.mark.s3
def test_real_server_keys_are_private_and_down_stops_it(tmp_path):
    server = LocalS3(tmp_path, s3_port=free_port()).start()
    try:
        assert mode(tmp_path / "s3.json") == 0o600
        assert server.secret_key in (tmp_path / "s3.json").read_text()
        assert is_server(server.process.pid, tmp_path)
        assert stop_server(tmp_path, grace_s=2).startswith("stopped local S3 server")
        assert server.process.wait(timeout=30) is not None
    finally:
        server.stop()
