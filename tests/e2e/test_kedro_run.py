"""``kedro run --env local`` over 10 real classes, checked from the files it writes."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from kedro.framework.project import configure_project
from PIL import Image

from fruits_pipeline.pipeline_registry import register_pipelines
from tests.conftest import SAMPLE, copy_subset
from tests.e2e.conftest import kedro

pytestmark = pytest.mark.e2e

CLASSES = sorted(p.name for p in (SAMPLE / "Training").iterdir())[:10]


def test_kedro_run_local_writes_every_output(project_copy, tmp_path, weights_path):
    images = copy_subset(tmp_path / "fruits", CLASSES, {"Training": 4, "Test": 2})
    expected = pd.Series([p.parent.name for p in images.rglob("*.jpg")]).value_counts().sort_index()
    assert len(expected) == 10 and expected.sum() == 60

    kedro(
        project_copy, "run", "--env", "local",
        "--params", f"input_path={images},featurization.weights={weights_path}",
    )  # fmt: skip

    data = project_copy / "data"
    features = pd.read_parquet(data / "04_feature" / "image_features.parquet")
    assert list(features.columns) == ["path", "label", "split", "features"]
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
    parquet = pd.read_parquet(data / "05_model_input" / "pca_features.parquet")
    assert sorted(parquet["path"]) == sorted(table["path"])

    assert pd.read_csv(data / "08_reporting" / "rejected_images.csv").empty
    assert (data / "06_models" / "reduction_model" / "metadata").is_dir()
    with Image.open(data / "08_reporting" / "scree_plot.png") as plot:
        assert plot.format == "PNG" and plot.width > 400


def test_kedro_viz_build_shows_every_node(project_copy):
    kedro(project_copy, "viz", "build")
    graph = json.loads((project_copy / "build" / "api" / "main").read_text())
    shown = {node["name"] for node in graph["nodes"] if node["type"] == "task"}
    configure_project("fruits_pipeline")
    assert shown == {node.name for node in register_pipelines()["__default__"].nodes}
    assert len(shown) == 6
    datasets = {node["name"] for node in graph["nodes"] if node["type"] == "data"}
    assert {"raw_images", "image_features", "pca_features", "scree_plot"} <= datasets
