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

from fruits_pipeline.errors import UserError
from fruits_pipeline.params import ReductionParams

logger = logging.getLogger(__name__)

ID_COLUMNS = ["path", "label", "split", "source", "family"]
FEATURES_VECTOR = "features_vector"
SCALED = "features_scaled"
COMPONENTS = "pca"


class ReductionConfigError(UserError, ValueError):
    """A reduction parameter does not fit the data; the message names it and the limits."""


def select_k(explained_variance: np.ndarray, variance_threshold: float) -> int:
    """Smallest k whose first k components explain at least ``variance_threshold``."""
    cumulative = np.cumsum(explained_variance)
    # A small tolerance so that 1.0 is reachable despite float rounding.
    reached = np.flatnonzero(cumulative >= variance_threshold - 1e-9)
    return int(reached[0]) + 1 if reached.size else len(cumulative)


def _validate_k(k: int, n_features: int, n_rows: int) -> int:
    limit = min(n_features, n_rows)
    if not 1 <= k <= limit:
        raise ReductionConfigError(
            f"parameter reduction.k={k!r}: must be an integer in [1, {limit}] (features: "
            f"{n_features}, training images: {n_rows}), or null to choose k from "
            "reduction.variance_threshold."
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
    """Fit the scaler and a Spark ML PCA with k components on the Training split only.

    The Test split never shapes the model: the centring (and, with ``standardize``, the
    scaling), the components and k are all fitted on the Training rows; every row is
    transformed later. The data are always centred (``StandardScaler(withMean=True)``),
    so the components are those of a PCA in the usual sense; ``standardize`` also scales
    each feature to unit variance. k is ``reduction.k`` or, when null, the smallest k
    whose components explain ``reduction.variance_threshold`` of the variance.

    Returns:
        The fitted ``PipelineModel`` (scaler, PCA) and the explained variance table
        (component, ratio, cumulative) of every component.
    """
    config = ReductionParams.model_validate(params)
    training = image_features.where(F.col("split") == "Training")
    vectors = training.select(array_to_vector("features").alias(FEATURES_VECTOR)).cache()
    try:
        n_rows = vectors.count()
        if n_rows == 0:
            raise UserError(
                "No training image could be featurized: every file was rejected or none is "
                "in the Training split. See rejected_images.csv (data/08_reporting/) for "
                "each file's reason, fix or replace the files, and rerun."
            )
        n_features = len(vectors.first()[0])
        scaler = StandardScaler(
            inputCol=FEATURES_VECTOR, outputCol=SCALED, withMean=True, withStd=config.standardize
        ).fit(vectors)
        scaled = scaler.transform(vectors)
        ratios = variance_spectrum(scaled, SCALED)
        if config.k is not None:
            k = _validate_k(config.k, n_features, n_rows)
        else:
            k = select_k(ratios, config.variance_threshold)
        pca = PCA(k=k, inputCol=SCALED, outputCol=COMPONENTS).fit(scaled)
    finally:
        vectors.unpersist()
    spark_ratios = pca.explainedVariance.toArray()
    if not np.allclose(spark_ratios, ratios[:k], atol=1e-6):
        raise RuntimeError(
            "Spark ML PCA returned wrong explained variance "
            f"({spark_ratios[:3].round(4)} vs {ratios[:3].round(4)} from the covariance). "
            "Spark is using its pure-Java LAPACK fallback: install a native LAPACK/BLAS on "
            "the driver (Debian: apt-get install libopenblas0-pthread liblapack3; "
            "Amazon Linux: yum install openblas lapack) and rerun."
        )
    explained = pd.DataFrame(
        {
            "component": np.arange(1, len(ratios) + 1),
            "ratio": ratios,
            "cumulative": np.cumsum(ratios),
        }
    )
    logger.info(
        "PCA (%d Training x %d, centred%s): k=%d keeps %.2f%% of variance",
        n_rows, n_features, ", standardized" if config.standardize else "", k,
        100 * float(np.sum(ratios[:k])),
    )  # fmt: skip
    return PipelineModel(stages=[scaler, pca]), explained


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


def to_csv_table(pca_features: DataFrame) -> DataFrame:
    """The PCA features in path order, for the one-file CSV copy (written by one Spark task,
    ``datasets.SparkCSVFileDataset``: nothing is collected to the driver)."""
    return pca_features.repartition(1).sortWithinPartitions("path")
