"""`make clean-outputs` removes what runs write and keeps the inputs."""

from __future__ import annotations

import shutil
import subprocess

from tests.conftest import REPO

WEIGHTS = "mobilenet_v2_1.0_224_no_top.imagenet_from_slim_ckpt.weights.h5"
INPUTS = [
    "data/01_raw/fruits-360/Training/Kiwi/0_100.jpg",
    "data/01_raw/to_predict/photo.jpg",
    f"data/06_models/{WEIGHTS}",
]
OUTPUTS = [
    "data/04_feature/image_features.parquet/2026-12-02T04.00.00.000Z/part-0.parquet",
    "data/05_model_input/pca_features.csv",
    "data/06_models/reduction_model/2026-12-02T04.00.00.000Z/reduction_model/_SUCCESS",
    "data/06_models/classifier/2026-12-02T04.00.00.000Z/classifier/_SUCCESS",
    "data/07_model_output/predictions.csv",
    "data/07_model_output/rejected_photos.csv",
    "data/08_reporting/summary.md",
    "data/02_intermediate/anything.parquet",
    # the local MLflow store (conf/base/mlflow.yml)
    "mlflow.db",
    "mlruns/1/0a1b2c/artifacts/reports/summary.md",
]


def test_clean_outputs_keeps_raw_data_and_weights_only(tmp_path):
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    for folder in REPO.glob("data/*/.gitkeep"):
        target = tmp_path / folder.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    for name in INPUTS + OUTPUTS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")

    subprocess.run(["make", "--no-print-directory", "clean-outputs"], cwd=tmp_path, check=True)

    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("data/**/*") if p.is_file())
    gitkeeps = sorted(str(p.relative_to(REPO)) for p in REPO.glob("data/*/.gitkeep"))
    assert left == sorted(INPUTS + gitkeeps)
    assert not [name for name in OUTPUTS if (tmp_path / name).exists()]
