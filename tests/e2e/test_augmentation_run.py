"""``kedro run`` with Training composites on: their rows, labels and the untouched Test split."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from fruits_pipeline.backgrounds import background_role
from fruits_pipeline.pipelines.featurization.nodes import COMPOSITE_PREFIX
from tests.conftest import SHARED, copy_subset, newest_version
from tests.e2e.conftest import kedro

pytestmark = pytest.mark.e2e

CLASSES = ["Apple Red 1", "Cherry", "Kiwi", "Lemon", "Pear"]
BACKGROUNDS = SHARED / "data" / "backgrounds" / "images"


def test_a_run_with_composites_adds_balanced_training_rows_only(project_copy, tmp_path):
    photos = copy_subset(tmp_path / "photos", CLASSES, {"Training": 4, "Test": 2})
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for path in sorted(BACKGROUNDS.glob("*.jpg"))[:30]:
        shutil.copy(path, scenes / path.name)
    log = kedro(
        project_copy, "run", "--params",
        f"input_path={photos},backgrounds_path={scenes},augmentation.enabled=true,"
        "reduction.k=8",
    ).stdout  # fmt: skip

    features = pd.read_parquet(
        newest_version(project_copy / "data" / "04_feature" / "image_features.parquet")
    )
    composite = features["path"].str.startswith(COMPOSITE_PREFIX)
    # 20 Training + 10 Test photos; 4 composites per class on each kind of scene.
    assert (len(features), composite.sum()) == (30 + 2 * 4 * len(CLASSES), 40)
    made = features[composite]
    assert set(made["split"]) == {"Training"}
    assert made.groupby(["label"]).size().to_dict() == dict.fromkeys(CLASSES, 8)
    # Each composite carries its photo's class and family: the photo's folder is the class.
    origins = made["path"].str.split("/Training/").str[1].str.split("/").str[0]
    assert (origins == made["label"]).all()
    assert (made["family"] == made["label"].str.split(" ").str[0]).all()
    assert made["features"].map(len).eq(1280).all()
    # The Test split is the Test photos, no more, no fewer.
    test = features[features["split"] == "Test"]
    expected = {p.as_posix() for p in (photos / "Test").rglob("*.jpg")}
    assert {p.removeprefix("file:") for p in test["path"]} == expected

    (bundle,) = (project_copy / "data" / "06_models" / "model_bundle").glob("*/model_bundle")
    manifest = json.loads((bundle / "manifest.json").read_text())
    augmentation = manifest["augmentation"]
    assert augmentation["composites"] == 40
    assert augmentation["per_class"] == {"procedural": 4, "photos": 4}
    # Only the augmentation part of the scenes (backgrounds.py) may be used.
    assert augmentation["background_photos"] == sum(
        background_role(p.name) == "augmentation" for p in scenes.iterdir()
    )
    metrics = json.loads((bundle / "reports" / "classification_metrics.json").read_text())
    assert metrics["n_test_images"] == 10
    assert "augmentation: 40 composites" in " ".join(log.split())
    card = (project_copy / "data" / "07_model_output" / "app_model" / "model_card.md").read_text()
    assert "Training composites (`augmentation`): 40 images" in " ".join(card.split())
