"""The recognition head: scaler, PCA and classifiers as numpy, and the "unknown" calibration.

``build_linear_head`` reads the fitted Spark ML stages into an ``artifacts.LinearHead``
(what the Spark-free predictor and the on-device model run); ``calibrate_unknown`` sets
its two thresholds on the Test split and on a fixed part of the no-fruit photos.
"""

from __future__ import annotations

import logging

import numpy as np
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fruits_pipeline.artifacts import LinearHead
from fruits_pipeline.params import family_of
from fruits_pipeline.pipelines.classification.nodes import SkippedClassifier

logger = logging.getLogger(__name__)


def classifier_head(classifier: PipelineModel) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(labels, coefficients, intercepts) of an assembler -> indexer -> LR pipeline.

    Spark returns the coefficients on the original scale of the components, even when
    the regression standardized them internally.
    """
    regression = classifier.stages[2]
    return (
        tuple(classifier.stages[1].labels),
        regression.coefficientMatrix.toArray(),
        regression.interceptVector.toArray(),
    )


def build_linear_head(
    reduction_model: PipelineModel,
    classifier: PipelineModel | SkippedClassifier,
    pca_features: DataFrame,
    families: dict[str, str],
) -> LinearHead | SkippedClassifier:
    """Node: the run's scaler, PCA and classifier as numpy arrays.

    With no classifier there is no head: the skip is passed on (a catalog dataset cannot
    hold None), and the bundle is published without head files.
    """
    if isinstance(classifier, SkippedClassifier):
        return classifier
    scaler, pca = reduction_model.stages
    mean = scaler.mean.toArray() if scaler.getWithMean() else np.zeros(scaler.mean.size)
    std = scaler.std.toArray()
    scale = np.ones_like(std)
    if scaler.getWithStd():  # Spark's scaler maps a constant feature (std 0) to 0
        scale = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
    components = [c for c in pca_features.columns if c.startswith("pca_")]
    training = pca_features.where(F.col("split") == "Training")
    std_row = training.agg(*[F.stddev_pop(c).alias(c) for c in components]).first()
    heads = {"class": classifier_head(classifier)}
    return LinearHead(
        mean=mean,
        scale=scale,
        pca=pca.pc.toArray(),
        component_std=np.array([std_row[c] or 0.0 for c in components]),
        heads=heads,
        class_families={label: family_of(label, families) for label in heads["class"][0]},
    )
