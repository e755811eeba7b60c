"""The pipeline on a real multi-process cluster: ``local-cluster[2,1,2048]`` starts a
master, two workers and two executor JVMs, each with its own Python workers, so the
featurizer travels by broadcast across processes. Its outputs must equal ``local[2]``'s."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fruits_pipeline.backgrounds import background_role
from tests.conftest import SAMPLE, SHARED, copy_subset, newest_version
from tests.e2e.conftest import WITHOUT_APP_EXPORT, kedro

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

CLASSES = sorted(p.name for p in (SAMPLE / "Training").iterdir())[:4]
CLUSTER_MASTER = "local-cluster[2,1,2048]"


def add_cluster_env(project: Path) -> str:
    """conf/cluster: the local env with the local-cluster master (executors of 1 GB)."""
    cluster = project / "conf" / "cluster"
    shutil.copytree(project / "conf" / "local", cluster)
    spark = yaml.safe_load((cluster / "spark.yml").read_text())
    spark.update({"spark.master": CLUSTER_MASTER, "spark.executor.memory": "1g"})
    (cluster / "spark.yml").write_text(yaml.safe_dump(spark))
    return "cluster"


def run_outputs(project: Path, env: str, images: Path, nofruit: Path) -> dict:
    """Run the whole pipeline in ``env``; its features (by path), k and accuracy."""
    shutil.rmtree(project / "data" / "04_feature", ignore_errors=True)
    shutil.rmtree(project / "data" / "06_models" / "model_bundle", ignore_errors=True)
    kedro(
        project, "run", "--env", env, *WITHOUT_APP_EXPORT,
        "--params", f"input_path={images},nofruit_path={nofruit}",
    )  # fmt: skip
    data = project / "data"
    features = pd.read_parquet(newest_version(data / "04_feature" / "image_features.parquet"))
    (manifest_file,) = (data / "06_models" / "model_bundle").glob("*/model_bundle/manifest.json")
    manifest = json.loads(manifest_file.read_text())
    return {
        "features": features.set_index("path").sort_index(),
        "k": manifest["k"],
        "accuracy": manifest["metrics"]["accuracy"],
    }


def test_local_cluster_run_equals_local_run(project_copy, tmp_path):
    images = copy_subset(tmp_path / "fruits", CLASSES, {"Training": 8, "Test": 3})
    nofruit = tmp_path / "nofruit"
    nofruit.mkdir()
    roles = {"calibration": [], "check": []}
    for photo in sorted((SHARED / "data" / "backgrounds" / "images").glob("*.jpg")):
        role = background_role(photo.name)
        if role in roles and len(roles[role]) < 4:
            roles[role].append(shutil.copy(photo, nofruit / photo.name))

    local = run_outputs(project_copy, "local", images, nofruit)
    cluster = run_outputs(project_copy, add_cluster_env(project_copy), images, nofruit)

    assert len(local["features"]) == len(cluster["features"]) == 4 * 11
    assert cluster["features"].index.equals(local["features"].index)
    cluster_rows = np.stack(cluster["features"]["features"].to_numpy())
    local_rows = np.stack(local["features"]["features"].to_numpy())
    assert cluster_rows.shape == (44, 1280) and np.ptp(local_rows, axis=0).max() > 0
    np.testing.assert_allclose(cluster_rows, local_rows, rtol=0, atol=1e-5)
    assert cluster["features"]["featurizer"].equals(local["features"]["featurizer"])
    assert cluster["k"] == local["k"]
    assert cluster["accuracy"] == local["accuracy"]
