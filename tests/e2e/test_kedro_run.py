"""``kedro run --env local`` over 10 real classes, checked from the files it writes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.project import configure_project
from PIL import Image

from fruits_pipeline.pipeline_registry import register_pipelines
from tests.conftest import SAMPLE, copy_subset, newest_version, sample_files
from tests.e2e.conftest import kedro, project_env

pytestmark = pytest.mark.e2e

CLASSES = sorted(p.name for p in (SAMPLE / "Training").iterdir())[:10]


def run_predict(project: Path, *photos: str) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).with_name("fruits-predict")
    return subprocess.run(
        [str(cli), "--project", str(project), *photos], env=project_env(), capture_output=True,
        text=True, timeout=600, check=False, cwd=project.parent,
    )  # fmt: skip


def test_kedro_run_local_writes_every_output(project_copy, tmp_path, weights_path):
    images = copy_subset(tmp_path / "fruits", CLASSES, {"Training": 4, "Test": 2})
    expected = pd.Series([p.parent.name for p in images.rglob("*.jpg")]).value_counts().sort_index()
    assert len(expected) == 10 and expected.sum() == 60

    kedro(
        project_copy, "run", "--env", "local",
        "--params", f"input_path={images},featurization.weights={weights_path}",
    )  # fmt: skip

    data = project_copy / "data"
    features = pd.read_parquet(newest_version(data / "04_feature" / "image_features.parquet"))
    assert list(features.columns) == [
        "path",
        "label",
        "split",
        "size_bytes",
        "modified",
        "features",
    ]
    assert len(features) == 60
    assert features["label"].value_counts().sort_index().to_dict() == expected.to_dict()
    assert features["split"].value_counts().to_dict() == {"Training": 40, "Test": 20}
    assert features["features"].map(len).eq(1280).all()

    explained = pd.read_csv(data / "08_reporting" / "explained_variance.csv")
    assert list(explained.columns) == ["component", "ratio", "cumulative"]
    k = int((explained["cumulative"] < 0.90 - 1e-9).sum()) + 1

    table = pd.read_csv(data / "05_model_input" / "pca_features.csv")
    assert list(table.columns) == ["path", "label", "split"] + [f"pca_{i}" for i in range(1, k + 1)]
    assert len(table) == 60
    assert table["label"].value_counts().sort_index().to_dict() == expected.to_dict()
    parquet = pd.read_parquet(newest_version(data / "05_model_input" / "pca_features.parquet"))
    assert sorted(parquet["path"]) == sorted(table["path"])

    assert pd.read_csv(data / "08_reporting" / "rejected_images.csv").empty
    # Versioned models: <name>/<version>/<name>/, marked complete last.
    for model in ("reduction_model", "classifier"):
        (saved,) = (data / "06_models" / model).glob(f"*/{model}/_SUCCESS")
        assert (saved.parent / "metadata").is_dir()
    for name in ("scree_plot", "label_counts", "sample_grid", "pca_scatter", "confusion_matrix"):
        with Image.open(data / "08_reporting" / f"{name}.png") as plot:
            assert plot.format == "PNG" and plot.width > 400, name

    metrics = json.loads((data / "08_reporting" / "classification_metrics.json").read_text())
    assert metrics["n_test_images"] == 20
    assert sorted(metrics["per_class"]) == CLASSES
    assert metrics["accuracy"] >= 0.8  # 10 classes: chance is 0.1
    summary = (data / "08_reporting" / "summary.md").read_text()
    assert f"k = {k}" in summary and f"{metrics['accuracy']:.2%}" in summary

    # Photos the classifier never saw: the CLI and the prediction pipeline.
    unseen = [sample_files("Test", label)[-1] for label in CLASSES[:3]]
    single = run_predict(project_copy, str(unseen[0]))
    assert single.returncode == 0, single.stderr
    assert single.stdout.splitlines()[0] in CLASSES
    junk = tmp_path / "notes.jpg"
    junk.write_text("not a photo")
    mixed = run_predict(project_copy, str(unseen[1]), str(junk))
    assert mixed.returncode != 0
    assert [line for line in mixed.stderr.splitlines() if str(junk) in line] == [
        f"fruits-predict: {junk}: not an image format Pillow can read; replace or remove the file"
    ]
    assert mixed.stdout.splitlines()[1] in CLASSES  # after the "# path" header

    photos = tmp_path / "to_predict"
    photos.mkdir()
    for path in unseen:
        shutil.copy(path, photos / f"{path.parent.name}_{path.name}")
    kedro(
        project_copy, "run", "--env", "local", "--pipelines", "prediction",
        "--params", f"predict_path={photos},featurization.weights={weights_path}",
    )  # fmt: skip
    predictions = pd.read_csv(data / "07_model_output" / "predictions.csv")
    assert len(predictions) == 3
    assert set(predictions["predicted_label"]) <= set(CLASSES)
    assert predictions["probability"].between(0, 1).all()


def test_kedro_viz_build_shows_every_node(project_copy):
    kedro(project_copy, "viz", "build")
    graph = json.loads((project_copy / "build" / "api" / "main").read_text())
    shown = {
        node["name"]
        for node in graph["nodes"]
        if node["type"] == "task" and "__default__" in node["pipelines"]
    }
    configure_project("fruits_pipeline")
    assert shown == {node.name for node in register_pipelines()["__default__"].nodes}
    assert {"featurize_images", "fit_reduction", "train_classifier", "plot_sample_grid"} <= shown
    datasets = {node["name"] for node in graph["nodes"] if node["type"] == "data"}
    assert {"raw_images", "image_features", "pca_features", "scree_plot"} <= datasets


@pytest.mark.parametrize("case", ["missing", "no_images"])
def test_bad_input_folder_stops_before_spark_work(project_copy, tmp_path, case):
    folder = tmp_path / "photos"
    if case == "no_images":
        (folder / "Training" / "Kiwi").mkdir(parents=True)
        (folder / "Training" / "Kiwi" / "notes.txt").write_text("no photo here")
    kedro_cli = Path(sys.executable).with_name("kedro")
    result = subprocess.run(
        [str(kedro_cli), "run", "--env", "local", "--params", f"input_path={folder}"],
        cwd=project_copy, env={**project_env(), "COLUMNS": "1000"}, capture_output=True,
        text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())  # rich wraps long lines
    problem = "does not exist" if case == "missing" else "has no .jpg/.jpeg file"
    assert f"Input folder {folder} (dataset 'raw_images') {problem}" in output
    assert "--params input_path=" in output
    assert not (project_copy / "data" / "04_feature" / "image_features.parquet").exists()


def test_unknown_env_names_the_envs_there_are(project_copy):
    kedro_cli = Path(sys.executable).with_name("kedro")
    result = subprocess.run(
        [str(kedro_cli), "run", "--env", "prod"], cwd=project_copy, env=project_env(),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())
    assert "Config env 'prod' not found" in output
    assert "['emr', 'local', 's3_local']" in output
