"""A throwaway copy of the project, so end-to-end runs never touch the real data/ folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, WEIGHTS


def project_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        KEDRO_DISABLE_TELEMETRY="true",
        TF_CPP_MIN_LOG_LEVEL="2",
        COLUMNS="400",  # rich log lines unwrapped, so tests can search them
    )
    return env


def kedro(
    project: Path, *args: str, timeout: int = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the kedro CLI of this interpreter inside ``project``; fail with its output."""
    kedro_cli = Path(sys.executable).with_name("kedro")
    result = subprocess.run(
        [str(kedro_cli), *args], cwd=project, env={**project_env(), **(env or {})},
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (
        f"kedro {' '.join(args)} failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
    )
    return result


def make_project_copy(root: Path) -> Path:
    """conf/, src/ and pyproject.toml of this repo in ``root/project``, with empty data/."""
    project = root / "project"
    project.mkdir()
    for name in ("conf", "src"):
        shutil.copytree(REPO / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(REPO / name, project / name)
    # As `make run` does: the weights file where conf/local expects it.
    models = project / "data" / "06_models"
    models.mkdir(parents=True)
    shutil.copy(WEIGHTS, models / WEIGHTS.name)
    return project


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """conf/, src/ and pyproject.toml of this repo in a temp folder, with empty data/."""
    return make_project_copy(tmp_path)
