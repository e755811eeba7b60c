"""A real S3 server (SeaweedFS) on 127.0.0.1 for the session, and a project copy wired to it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import s3fs

from scripts.local_s3 import BUCKET, REGION, LocalS3, free_port
from tests.e2e.conftest import project_copy  # noqa: F401 - the same throwaway project

PREFIX = "fruits_pipeline/data"  # conf/s3_local/globals.yml: s3://<bucket>/<prefix>/data


@pytest.fixture(scope="session")
def local_s3(tmp_path_factory) -> LocalS3:
    server = LocalS3(tmp_path_factory.mktemp("seaweedfs"), s3_port=free_port()).start()
    server.create_bucket()
    yield server
    stop_soon(server)


def stop_soon(server: LocalS3, grace_s: float = 2) -> None:
    """Stop a test's server: SIGTERM, then SIGKILL after ``grace_s``. SeaweedFS takes ~25 s
    to exit on SIGTERM, so LocalS3.stop's 20 s grace ends in SIGKILL anyway (20 s lost per
    stop); what it stored is in its files, and a restart on them serves it again."""
    process = server.process
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    server.stop()  # what is left: the pid file


@pytest.fixture
def s3_env(local_s3, monkeypatch) -> LocalS3:
    """The server's generated keys in this process' environment (what kedro reads)."""
    for key, value in local_s3.env.items():
        monkeypatch.setenv(key, value)
    return local_s3


def s3_filesystem(server: LocalS3) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(
        key=server.access_key,
        secret=server.secret_key,
        client_kwargs={"endpoint_url": server.endpoint, "region_name": REGION},
    )


def point_s3_local_at(project: Path, server: LocalS3) -> None:
    """The copy's s3_local env talks to this session's server (free port, not 8333)."""
    globals_yml = project / "conf" / "s3_local" / "globals.yml"
    text, count = re.subn(
        r"^s3_endpoint: .*$", f"s3_endpoint: {server.endpoint}", globals_yml.read_text(), flags=re.M
    )
    assert count == 1, f"no s3_endpoint line in {globals_yml}"
    globals_yml.write_text(text)


def upload_images(server: LocalS3, local: Path) -> int:
    """Empty the bucket's data prefix (no output of an earlier test survives), then upload
    ``local`` as the raw images; returns the number of files."""
    fs = s3_filesystem(server)
    if fs.exists(f"{BUCKET}/{PREFIX}"):
        fs.rm(f"{BUCKET}/{PREFIX}", recursive=True)
    raw = f"{BUCKET}/{PREFIX}/01_raw/fruits-360"
    files = [p for p in local.rglob("*") if p.is_file()]
    for path in files:
        fs.put_file(str(path), f"{raw}/{path.relative_to(local).as_posix()}")
    return len(files)


def newest_s3_version(server: LocalS3, output: str) -> str:
    """s3:// URI of the newest committed version of a versioned output (bucket/key given)."""
    name = output.rstrip("/").split("/")[-1]
    committed = sorted(s3_filesystem(server).glob(f"{output}/*/{name}/_SUCCESS"))
    assert committed, f"no committed version under s3://{output}"
    return "s3://" + committed[-1].rsplit("/", 1)[0]
