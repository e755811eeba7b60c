"""The reduction + classification slice of the pipeline, run as Kedro runs it.

In the style of the Kedro pyspark starter's ``tests/pipelines/<pipeline>/test_pipeline.py``:
the registered pipelines, a ``SequentialRunner`` and an in-memory ``DataCatalog`` holding
real features of sample images and the project's own parameters from conf/base.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from pyspark.sql import functions as F

from fruits_pipeline.pipelines import classification, reduction
from fruits_pipeline.pipelines.classification.nodes import SkippedClassifier
from tests.conftest import REPO, copy_subset, featurize_folder

CLASSES = ["Cherry", "Kiwi", "Lemon", "Strawberry"]
PER_SPLIT = {"Training": 8, "Test": 3}


def conf_parameters(name: str) -> dict:
    return yaml.safe_load((REPO / "conf" / "base" / f"parameters_{name}.yml").read_text())[name]


@pytest.fixture(scope="module")
def image_features(spark, tmp_path_factory, weights_path):
    folder = copy_subset(tmp_path_factory.mktemp("slice"), CLASSES, PER_SPLIT)
    features, rejected = featurize_folder(folder, {"weights": weights_path})
    assert rejected.empty
    # Each class's family, as ingestion sets it (here the class name itself).
    return features.withColumn("family", F.col("label")).cache()


def test_reduction_and_classification_slice(image_features):
    slice_ = reduction.create_pipeline() + classification.create_pipeline()
    outputs = sorted(slice_.all_outputs())
    catalog = DataCatalog(
        {
            "image_features": MemoryDataset(image_features, copy_mode="assign"),
            "params:reduction": MemoryDataset(conf_parameters("reduction")),
            "params:classification": MemoryDataset(conf_parameters("classification")),
            # Spark ML models and figures are handed on as they are, as in the catalog.
            **{name: MemoryDataset(copy_mode="assign") for name in outputs},
        }
    )
    assert slice_.inputs() == {"image_features", "params:reduction", "params:classification"}

    SequentialRunner().run(slice_, catalog)
    # The runner releases what a later node consumed: the slice's outputs remain.
    assert slice_.outputs() >= {
        "explained_variance", "pca_features_table", "classification_metrics",
        "confusion_matrix", "family_classifier",
    }  # fmt: skip

    n_images = len(CLASSES) * sum(PER_SPLIT.values())
    n_test = len(CLASSES) * PER_SPLIT["Test"]
    # The PCA: k from the 90% threshold of conf/base, on the Training rows' spectrum.
    variance = catalog.load("explained_variance")
    table = catalog.load("pca_features_table").toPandas()  # a Spark DataFrame in a run
    assert len(table) == n_images
    k = sum(c.startswith("pca_") for c in table.columns)
    assert [c for c in table.columns if c.startswith("pca_")] == [f"pca_{i + 1}" for i in range(k)]
    assert variance["cumulative"].iloc[k - 1] >= 0.9 > variance["cumulative"].iloc[k - 2]

    # The classifier, on the 12 Test photos it never saw.
    # The family head is trained too; here each class is its own family (first word).
    family_head = catalog.load("family_classifier")
    assert not isinstance(family_head, SkippedClassifier)
    assert sorted(family_head.stages[1].labels) == CLASSES
    metrics = catalog.load("classification_metrics")
    assert metrics["n_test_images"] == n_test
    assert {name: m["support"] for name, m in metrics["per_class"].items()} == dict.fromkeys(
        CLASSES, PER_SPLIT["Test"]
    )
    # Accuracy recomputed from the slice's own PCA table: nearest Training centroid in
    # the components is an independent, simpler classifier that must agree on easy fruit.
    training = table[table["split"] == "Training"]
    test = table[table["split"] == "Test"]
    components = [f"pca_{i + 1}" for i in range(k)]
    centroids = training.groupby("label")[components].mean()
    distances = ((test[components].to_numpy()[:, None] - centroids.to_numpy()) ** 2).sum(axis=2)
    nearest = centroids.index.to_numpy()[distances.argmin(axis=1)]
    assert (nearest == test["label"].to_numpy()).mean() >= 0.9
    assert metrics["accuracy"] >= 0.9  # chance is 0.25
    assert metrics["macro_f1"] == pytest.approx(
        np.mean([m["f1"] for m in metrics["per_class"].values()])
    )
    matrix = catalog.load("confusion_matrix").axes[0].images[0].get_array()
    assert np.diag(matrix).mean() == pytest.approx(
        np.mean([m["recall"] for m in metrics["per_class"].values()])
    )
