"""Scaler + PCA fitting, k selection, and the components exploded into columns."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.ml.feature import PCA, StandardScaler
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.stat import Correlation, Summarizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

logger = logging.getLogger(__name__)

ID_COLUMNS = ["path", "label", "split"]
FEATURES_VECTOR = "features_vector"
SCALED = "features_scaled"
COMPONENTS = "pca"


class ReductionConfigError(ValueError):
    """A reduction parameter is invalid; the message names it and the allowed values."""


def _validate_threshold(variance_threshold: Any) -> float:
    is_number = isinstance(variance_threshold, int | float) and not isinstance(
        variance_threshold, bool
    )
    if not is_number or not 0 < variance_threshold <= 1:
        raise ReductionConfigError(
            f"reduction.variance_threshold={variance_threshold!r} must be a number in (0, 1]."
        )
    return float(variance_threshold)


def select_k(explained_variance: np.ndarray, variance_threshold: float) -> int:
    """Smallest k whose first k components explain at least ``variance_threshold``."""
    variance_threshold = _validate_threshold(variance_threshold)
    cumulative = np.cumsum(explained_variance)
    # A small tolerance so that 1.0 is reachable despite float rounding.
    reached = np.flatnonzero(cumulative >= variance_threshold - 1e-9)
    return int(reached[0]) + 1 if reached.size else len(cumulative)


def _validate_k(k: Any, n_features: int, n_rows: int) -> int:
    limit = min(n_features, n_rows)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= limit:
        raise ReductionConfigError(
            f"reduction.k={k!r} must be an integer in [1, {limit}] (features: {n_features}, "
            f"images: {n_rows}), or null to choose k from reduction.variance_threshold."
        )
    return k


def variance_spectrum(vectors: DataFrame, column: str) -> np.ndarray:
    """Explained variance ratio of every principal component, largest first.

    Spark computes the covariance (``Correlation`` + ``Summarizer``, in the JVM); the
    1280x1280 eigen-decomposition runs in numpy. Spark ML's own PCA spectrum is not used
    for this: without a native LAPACK, its pure-Java SVD fallback returned wrong,
    run-to-run different eigenvalues on these features (seen with Spark 4.0.1).
    """
    correlation = Correlation.corr(vectors, column).first()[0].toArray()
    std = vectors.select(Summarizer.std(F.col(column)).alias("std")).first()["std"].toArray()
    covariance = np.nan_to_num(correlation) * np.outer(std, std)  # constant columns: 0
    eigenvalues = np.clip(np.linalg.eigvalsh(covariance)[::-1], 0, None)
    return eigenvalues / eigenvalues.sum()


def fit_reduction(
    image_features: DataFrame, params: dict[str, Any]
) -> tuple[PipelineModel, pd.DataFrame]:
    """Fit the optional StandardScaler and a Spark ML PCA with k components.

    k is ``reduction.k`` or, when that is null, the smallest k whose components explain
    ``reduction.variance_threshold`` of the variance.

    Returns:
        The fitted ``PipelineModel`` (scaler?, PCA) and the explained variance table
        (component, ratio, cumulative) of every component.
    """
    if params.get("k") is None:  # fail before any Spark work
        _validate_threshold(params.get("variance_threshold", 0.90))
    vectors = image_features.select(array_to_vector("features").alias(FEATURES_VECTOR)).cache()
    n_rows = vectors.count()
    n_features = vectors.first()[0].size
    stages = []
    pca_input = FEATURES_VECTOR
    if params.get("standardize", False):
        scaler = StandardScaler(
            inputCol=FEATURES_VECTOR, outputCol=SCALED, withMean=True, withStd=True
        ).fit(vectors)
        stages.append(scaler)
        vectors = scaler.transform(vectors)
        pca_input = SCALED

    ratios = variance_spectrum(vectors, pca_input)
    if params.get("k") is not None:
        k = _validate_k(params["k"], n_features, n_rows)
    else:
        k = select_k(ratios, float(params.get("variance_threshold", 0.90)))
    pca = PCA(k=k, inputCol=pca_input, outputCol=COMPONENTS).fit(vectors)
    spark_ratios = pca.explainedVariance.toArray()
    if not np.allclose(spark_ratios, ratios[:k], atol=1e-6):
        raise RuntimeError(
            "Spark ML PCA returned wrong explained variance "
            f"({spark_ratios[:3].round(4)} vs {ratios[:3].round(4)} from the covariance). "
            "Spark is using its pure-Java LAPACK fallback: install a native LAPACK/BLAS on "
            "the driver (Debian: apt-get install libopenblas0-pthread liblapack3; "
            "Amazon Linux: yum install openblas lapack) and rerun."
        )
    stages.append(pca)
    vectors.unpersist()

    explained = pd.DataFrame(
        {
            "component": np.arange(1, len(ratios) + 1),
            "ratio": ratios,
            "cumulative": np.cumsum(ratios),
        }
    )
    logger.info(
        "PCA: k=%d components explain %.4f of the variance (%d images x %d features%s)",
        k, float(np.sum(ratios[:k])), n_rows, n_features,
        ", standardized" if len(stages) == 2 else "",
    )  # fmt: skip
    return PipelineModel(stages=stages), explained


def transform_features(image_features: DataFrame, reduction_model: PipelineModel) -> DataFrame:
    """Project features on the PCA components: columns path, label, split, pca_1..pca_k."""
    vectors = image_features.select(*ID_COLUMNS, array_to_vector("features").alias(FEATURES_VECTOR))
    k = reduction_model.stages[-1].getK()
    projected = reduction_model.transform(vectors).select(
        *ID_COLUMNS, vector_to_array(F.col(COMPONENTS)).alias("components")
    )
    return projected.select(
        *ID_COLUMNS, *[F.col("components")[i].alias(f"pca_{i + 1}") for i in range(k)]
    )


def to_pandas_table(pca_features: DataFrame) -> pd.DataFrame:
    """The PCA features as one pandas table, for the CSV copy (one file, not Spark parts)."""
    return pca_features.orderBy("path").toPandas()
