"""A throwaway copy of the project, so end-to-end runs never touch the real data/ folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fruits_pipeline.pipeline_registry import ON_REQUEST
from tests.conftest import REPO, WEIGHTS

# `kedro run` args for every stage but the app export (a TFLite conversion of the fused
# model, ~20 s a run): for runs whose test asserts nothing of 07_model_output/app_model
# (test_app_model.py, test_augmentation_run.py and the one-class run do).
WITHOUT_APP_EXPORT = (
    "--pipelines",
    ",".join(
        sorted(
            p.parent.name
            for p in (REPO / "src" / "fruits_pipeline" / "pipelines").glob("*/pipeline.py")
            if p.parent.name not in {*ON_REQUEST, "app_export"}
        )
    ),
)


def project_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        KEDRO_DISABLE_TELEMETRY="true",
        TF_CPP_MIN_LOG_LEVEL="2",
        COLUMNS="400",  # rich log lines unwrapped, so tests can search them
    )
    env.pop("MLFLOW_TRACKING_URI", None)  # runs record in the copy's store, never the caller's
    return env


def kedro(
    project: Path, *args: str, timeout: int = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the kedro CLI of this interpreter inside ``project`` (with ``env``, default
    :func:`project_env`); fail with its output."""
    kedro_cli = Path(sys.executable).with_name("kedro")
    result = subprocess.run(
        [str(kedro_cli), *args], cwd=project, env=env or project_env(), capture_output=True,
        text=True, timeout=timeout, check=False,
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
