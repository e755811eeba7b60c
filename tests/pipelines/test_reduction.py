"""PCA k selection and projection against an independent numpy computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import Version
from pyspark.sql import functions as F

from fruits_pipeline.datasets import SparkCSVFileDataset
from fruits_pipeline.pipelines.reduction.nodes import (
    ReductionConfigError,
    fit_reduction,
    select_k,
    to_csv_table,
    transform_features,
)
from tests.conftest import copy_subset, featurize_folder, user_error

CLASSES = ["Apple Golden 1", "Cherry", "Kiwi", "Lemon", "Strawberry", "Pear"]


@pytest.fixture(scope="module")
def image_features(spark, tmp_path_factory, weights_path):
    """Real features of 6 classes x (8 Training + 2 Test) images."""
    folder = copy_subset(tmp_path_factory.mktemp("reduction"), CLASSES, {"Training": 8, "Test": 2})
    features, _ = featurize_folder(folder, {"weights": weights_path, "backend": "tflite"})
    return features.cache()


def _training_matrix(image_features) -> np.ndarray:
    rows = image_features.where("split = 'Training'").orderBy("path").collect()
    return np.array([r.features for r in rows], dtype=np.float64)


def _numpy_ratios(matrix: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    """Explained variance ratios and principal axes from the covariance matrix's eigenvectors."""
    if standardize:
        std = matrix.std(axis=0, ddof=1)
        matrix = np.where(std > 0, (matrix - matrix.mean(axis=0)) / np.where(std > 0, std, 1), 0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(matrix, rowvar=False))
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0, None)
    return eigenvalues / eigenvalues.sum(), eigenvectors[:, order]


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("threshold", [0.5, 0.9])
def test_k_from_threshold_matches_numpy_on_training_rows(image_features, standardize, threshold):
    ratios, _ = _numpy_ratios(_training_matrix(image_features), standardize)
    expected_k = int(np.searchsorted(np.cumsum(ratios), threshold) + 1)

    model, explained = fit_reduction(
        image_features, {"standardize": standardize, "k": None, "variance_threshold": threshold}
    )

    assert model.stages[-1].getK() == expected_k
    assert model.stages[0].getWithMean() and model.stages[0].getWithStd() == standardize
    np.testing.assert_allclose(explained["ratio"], ratios[: len(explained)], atol=1e-6)
    np.testing.assert_allclose(explained["cumulative"], np.cumsum(explained["ratio"]))
    assert explained["cumulative"].iloc[expected_k - 1] >= threshold


def test_test_images_never_shape_the_reduction(image_features):
    """Changing or removing the Test rows leaves the fitted scaler, PCA and k identical."""
    params = {"k": None, "variance_threshold": 0.9}
    model, explained = fit_reduction(image_features, params)
    training = image_features.where("split = 'Training'")
    other_test = training.limit(5).withColumn("split", F.lit("Test"))  # different Test images
    for variant in (training, training.unionByName(other_test)):
        again, explained_again = fit_reduction(variant, params)
        assert again.stages[-1].getK() == model.stages[-1].getK()
        np.testing.assert_array_equal(
            again.stages[0].mean.toArray(), model.stages[0].mean.toArray()
        )
        # The same components; each one's sign is LAPACK's choice (a PCA axis has none).
        got, expected = again.stages[-1].pc.toArray(), model.stages[-1].pc.toArray()
        signs = np.sign((got * expected).sum(axis=0))
        np.testing.assert_allclose(got * signs, expected, atol=1e-9)
        pd.testing.assert_frame_equal(explained_again, explained)


def test_projection_is_centred_pca_with_k_columns(image_features, tmp_path):
    k = 5
    model, explained = fit_reduction(image_features, {"k": k})
    assert len(explained) == 1280  # the whole spectrum, whatever k
    projected = transform_features(image_features, model)

    assert projected.columns == ["path", "label", "split", "source", "family"] + [
        f"pca_{i}" for i in range(1, k + 1)
    ]
    # The CSV copy as the catalog writes it (one file from a Spark task) and reads it back.
    csv = SparkCSVFileDataset(
        filepath=str(tmp_path / "pca_features.csv"),
        version=Version(None, "2026-01-01T00.00.00.000Z"),
    )
    csv.save(to_csv_table(projected))
    (version,) = (tmp_path / "pca_features.csv").iterdir()
    # One file, the Spark part folder gone (Hadoop's local checksum file is hidden).
    assert [p.name for p in version.iterdir() if not p.name.startswith(".")] == ["pca_features.csv"]
    assert (version / "pca_features.csv").is_file()
    table = csv.load()
    assert list(table["path"]) == sorted(table["path"])
    source = {r.path: r for r in image_features.collect()}
    assert len(table) == len(source) == 60
    assert table.groupby("label").size().to_dict() == dict.fromkeys(CLASSES, 10)

    # (x - mean of Training) . axis, every row; axes match numpy's up to sign.
    training = _training_matrix(image_features)
    _, axes = _numpy_ratios(training, standardize=False)
    matrix = np.array([source[p].features for p in table["path"]], dtype=np.float64)
    spark_values = table[[f"pca_{i}" for i in range(1, k + 1)]].to_numpy()
    numpy_values = (matrix - training.mean(axis=0)) @ axes[:, :k]
    signs = np.sign((spark_values * numpy_values).sum(axis=0))
    np.testing.assert_allclose(spark_values, numpy_values * signs, rtol=1e-4, atol=1e-3)
    # Centred: the Training rows' components average 0.
    training_rows = table[table["split"] == "Training"][[f"pca_{i}" for i in range(1, k + 1)]]
    np.testing.assert_allclose(training_rows.mean().to_numpy(), 0, atol=1e-3)


def test_select_k_on_known_spectrum():
    ratios = np.array([0.5, 0.3, 0.15, 0.05])
    assert [select_k(ratios, t) for t in (0.4, 0.5, 0.8, 0.81, 0.95, 1.0)] == [1, 1, 2, 3, 3, 4]


@pytest.mark.parametrize("k", [49, 2000])
def test_k_beyond_training_images_or_features_is_refused(image_features, k):
    with pytest.raises(ReductionConfigError, match=r"reduction\.k=.*\[1, 48\]"):
        fit_reduction(image_features, {"k": k})


def test_no_featurized_image_stops_with_one_line_naming_the_rejected_list(image_features):
    message = user_error(fit_reduction, image_features.limit(0), {"k": None})
    assert "rejected_images.csv" in message and "\n" not in message


def test_fit_reduction_releases_what_it_cached(spark, image_features):
    image_features.count()  # the fixture's own cache, materialized before counting
    before = spark.sparkContext._jsc.getPersistentRDDs().size()
    fit_reduction(image_features, {"k": 3})
    assert spark.sparkContext._jsc.getPersistentRDDs().size() == before
