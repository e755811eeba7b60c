"""`fruits-emr package`: the deploy artifacts, built from allow-lists.

- the wheel (``python -m build --wheel``: the package under src/ only), checked to hold no
  file that looks like a secret;
- the conf tarball: ``conf/<env>/**/*.yml`` of the envs a cluster runs, nothing else (no
  ``.env``, ``*.pem``, ``credentials*``, hidden files, ``conf/local``). It replaces
  `kedro package`'s tarball, which packs the whole ``conf/`` folder;
- ``requirements.lock``: every dependency of the wheel, pinned with its sha256, resolved for
  the nodes (Linux x86_64, CPython 3.11, glibc <= 2.34 = Amazon Linux 2023); bootstrap.sh
  and the Serverless image install it with ``--require-hashes``.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from fruits_pipeline.emr.plan import CONF_TARBALL, LOCK_FILE, PACKAGE, SCRIPTS
from fruits_pipeline.emr.settings import CliError

CONF_ENVS = ("base", "emr", "s3_local")  # s3_local: the local rehearsal of the same job
CONF_SUFFIXES = (".yml", ".yaml")
# Never shipped, whatever the folder: compared to every path part, lower-case.
SECRET_PATTERNS = ("*credential*", "*secret*", "*.pem", "*.key", "*.p12", "*.env", ".*")
NODE_GLIBC = (2, 34)  # Amazon Linux 2023 (EMR 7+/8 nodes)


def is_secret(relative: Path) -> bool:
    return any(
        fnmatch.fnmatch(part.lower(), pattern)
        for part in relative.parts
        for pattern in SECRET_PATTERNS
    )


def conf_files(conf_dir: Path) -> list[Path]:
    """The allow-listed conf files, relative to conf_dir, sorted."""
    chosen = []
    for env in CONF_ENVS:
        root = conf_dir / env
        if not root.is_dir():
            raise CliError(f"{root} not found: the conf tarball needs the {env!r} env")
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(conf_dir)
            if path.is_file() and path.suffix in CONF_SUFFIXES and not is_secret(relative):
                chosen.append(relative)
    return chosen


def write_conf_tarball(conf_dir: Path, target: Path) -> list[Path]:
    """conf/<env>/... (the layout `kedro package` gives --conf-source), reproducible."""
    members = conf_files(conf_dir)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for relative in members:
            data = (conf_dir / relative).read_bytes()
            info = tarfile.TarInfo(f"conf/{relative.as_posix()}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        target.open("wb") as out,
        gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0) as gz,
    ):
        gz.write(buffer.getvalue())
    return members


def build_wheel(project: Path, dist: Path) -> Path:
    for old in dist.glob(f"{PACKAGE}-*.whl"):
        old.unlink()
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(project)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise CliError(f"building the wheel of {project} failed: {tail}")
    (wheel,) = dist.glob(f"{PACKAGE}-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        leaked = [n for n in archive.namelist() if is_secret(Path(n))]
    if leaked:
        wheel.unlink()
        raise CliError(f"{wheel.name} would contain {', '.join(leaked)}: remove them from src/")
    return wheel


def _glibc_ok(filename: str) -> bool:
    tags = re.findall(r"manylinux_(\d+)_(\d+)", filename)
    if "musllinux" in filename or any(t in filename for t in ("macosx", "win_")):
        return False
    return all((int(a), int(b)) <= NODE_GLIBC for a, b in tags)


def lock_lines(report: dict, wheel_name: str) -> list[str]:
    """pip's installation report -> `name==version --hash=sha256:...` lines."""
    lines = []
    for item in report["install"]:
        name, ver = item["metadata"]["name"], item["metadata"]["version"]
        url = item["download_info"]["url"]
        if url.endswith(wheel_name):
            continue  # the project's own wheel: checked by SHA256SUMS
        digest = item["download_info"].get("archive_info", {}).get("hashes", {}).get("sha256")
        if not digest or not url.startswith("https://"):
            raise CliError(f"lock: {name} {ver} has no sha256 from the index ({url})")
        filename = url.rsplit("/", 1)[-1]
        if filename.endswith(".whl") and not _glibc_ok(filename):
            raise CliError(f"lock: {filename} does not run on the nodes (glibc {NODE_GLIBC})")
        lines.append(f"{name}=={ver} --hash=sha256:{digest}")
    return sorted(lines, key=str.lower)


def write_lock(wheel: Path, target: Path) -> int:
    """Resolve the wheel's dependencies (what pip would install in a new venv) into a lock."""
    if sys.version_info[:2] != (3, 11) or sys.platform != "linux":
        raise CliError("the lock is resolved for the nodes: run fruits-emr package on Linux, "
                       "Python 3.11")  # fmt: skip
    env = {**os.environ, "PIP_FIND_LINKS": ""}  # index files only: each has a sha256
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", "-", str(wheel)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise CliError(f"resolving the dependencies of {wheel.name} failed: {tail}")
    lines = lock_lines(json.loads(result.stdout), wheel.name)
    header = (
        f"# Dependencies of {wheel.name}, made by `fruits-emr package`; installed on the\n"
        "# nodes with pip install --require-hashes --no-deps -r requirements.lock\n"
    )
    target.write_text(header + "\n".join(lines) + "\n")
    return len(lines)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sha256sums(files: list[Path]) -> str:
    """`sha256sum` format: what bootstrap.sh and the image check with --check --strict."""
    return "".join(f"{sha256_of(path)}  {path.name}\n" for path in files)


def package(project: Path, dist: Path) -> list[str]:
    """Build the artifacts into dist/ (also the EMR Serverless image's build context: the
    deploy scripts and SHA256SUMS beside them); returns what to print."""
    dist.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(project, dist)
    members = write_conf_tarball(project / "conf", dist / CONF_TARBALL)
    count = write_lock(wheel, dist / LOCK_FILE)
    for name in SCRIPTS:
        shutil.copy(project / "deploy" / name, dist / name)
    files = [wheel, dist / CONF_TARBALL, dist / LOCK_FILE, *(dist / n for n in SCRIPTS)]
    (dist / "SHA256SUMS").write_text(sha256sums(files))
    return [
        f"{dist / wheel.name}",
        f"{dist / CONF_TARBALL}: {len(members)} files of conf/{{{','.join(CONF_ENVS)}}}",
        f"{dist / LOCK_FILE}: {count} pinned dependencies with sha256",
        f"{dist / 'SHA256SUMS'}: {len(files)} files (with {', '.join(SCRIPTS)})",
    ]
