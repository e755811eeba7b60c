"""PCA k selection and projection against an independent numpy computation."""

from __future__ import annotations

import numpy as np
import pytest

from fruits_pipeline.pipelines.featurization.nodes import featurize_images
from fruits_pipeline.pipelines.ingestion.nodes import label_images
from fruits_pipeline.pipelines.reduction.nodes import (
    ReductionConfigError,
    fit_reduction,
    select_k,
    to_pandas_table,
    transform_features,
)
from tests.conftest import copy_subset, load_images

CLASSES = ["Apple Golden 1", "Cherry", "Kiwi", "Lemon", "Strawberry", "Pear"]


@pytest.fixture(scope="module")
def image_features(spark, tmp_path_factory, weights_path):
    """Real features of 6 classes x 8 Training images."""
    folder = copy_subset(tmp_path_factory.mktemp("reduction"), CLASSES, {"Training": 8})
    features, _ = featurize_images(
        label_images(load_images(folder)), {"weights": weights_path, "backend": "tflite"}
    )
    return features.cache()


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
def test_k_from_threshold_matches_numpy(image_features, standardize, threshold):
    matrix = np.array([r.features for r in image_features.collect()], dtype=np.float64)
    ratios, _ = _numpy_ratios(matrix, standardize)
    expected_k = int(np.searchsorted(np.cumsum(ratios), threshold) + 1)

    model, explained = fit_reduction(
        image_features, {"standardize": standardize, "k": None, "variance_threshold": threshold}
    )

    assert model.stages[-1].getK() == expected_k
    assert len(model.stages) == (2 if standardize else 1)
    np.testing.assert_allclose(explained["ratio"], ratios[: len(explained)], atol=1e-6)
    np.testing.assert_allclose(explained["cumulative"], np.cumsum(explained["ratio"]))
    assert explained["cumulative"].iloc[expected_k - 1] >= threshold


def test_projection_explodes_k_columns_and_keeps_rows(image_features):
    k = 5
    model, explained = fit_reduction(image_features, {"k": k})
    assert len(explained) == 1280  # the whole spectrum, whatever k
    projected = transform_features(image_features, model)

    assert projected.columns == ["path", "label", "split"] + [f"pca_{i}" for i in range(1, k + 1)]
    table = to_pandas_table(projected)
    source = {r.path: r for r in image_features.collect()}
    assert len(table) == len(source) == 48
    assert table.groupby("label").size().to_dict() == dict.fromkeys(CLASSES, 8)

    # Spark's PCA projects without centering: x . axis; axes match numpy's up to sign.
    matrix = np.array([source[p].features for p in table["path"]], dtype=np.float64)
    _, axes = _numpy_ratios(matrix, standardize=False)
    spark_values = table[[f"pca_{i}" for i in range(1, k + 1)]].to_numpy()
    numpy_values = matrix @ axes[:, :k]
    signs = np.sign((spark_values * numpy_values).sum(axis=0))
    np.testing.assert_allclose(spark_values, numpy_values * signs, rtol=1e-4, atol=1e-3)


def test_select_k_on_known_spectrum():
    ratios = np.array([0.5, 0.3, 0.15, 0.05])
    assert [select_k(ratios, t) for t in (0.4, 0.5, 0.8, 0.81, 0.95, 1.0)] == [1, 1, 2, 3, 3, 4]


@pytest.mark.parametrize("threshold", [0, -0.1, 1.5, "0.9", None])
def test_threshold_outside_unit_interval_is_refused(threshold):
    with pytest.raises(ReductionConfigError, match=r"reduction\.variance_threshold"):
        select_k(np.array([0.6, 0.4]), threshold)


@pytest.mark.parametrize("k", [0, 49, 2000, 2.5])
def test_k_beyond_images_or_features_is_refused(image_features, k):
    with pytest.raises(ReductionConfigError, match=r"reduction\.k=.*\[1, 48\]"):
        fit_reduction(image_features, {"k": k})
