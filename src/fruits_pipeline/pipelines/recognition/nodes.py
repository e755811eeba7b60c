"""The recognition head: scaler, PCA and classifiers as numpy, and the "unknown" calibration.

``build_linear_head`` reads the fitted Spark ML stages into an ``artifacts.LinearHead``
(what the Spark-free predictor and the on-device model run); ``calibrate_unknown`` sets
its two thresholds on the Test split and on a fixed part of the no-fruit photos.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fruits_pipeline.artifacts import LinearHead
from fruits_pipeline.backgrounds import background_role
from fruits_pipeline.engine.unknown import calibrate
from fruits_pipeline.params import UnknownParams, family_of
from fruits_pipeline.pipelines.classification.nodes import SkippedClassifier
from fruits_pipeline.pipelines.featurization.featurizer import Featurizer
from fruits_pipeline.pipelines.featurization.nodes import featurize_images, listed_files

# Test rows the calibration reads on the driver: quantiles need no more.
MAX_CALIBRATION_ROWS = 20_000
NO_PHOTOS = pd.DataFrame({"path": [], "role": [], "features": []}, dtype=object)

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
    family_classifier: PipelineModel | SkippedClassifier,
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
    # Sample std, as the scaler's: the variance the PCA keeps and leaves use one measure.
    std_row = training.agg(*[F.stddev_samp(c).alias(c) for c in components]).first()
    component_std = np.array([std_row[c] or 0.0 for c in components])
    total_variance = float(((std * scale) ** 2).sum())  # of the scaled features, on Training
    left_out = max(mean.size - len(components), 1)
    heads = {"class": classifier_head(classifier)}
    if not isinstance(family_classifier, SkippedClassifier):
        heads["family"] = classifier_head(family_classifier)
    return LinearHead(
        mean=mean,
        scale=scale,
        pca=pca.pc.toArray(),
        component_std=component_std,
        heads=heads,
        class_families={label: family_of(label, families) for label in heads["class"][0]},
        residual_variance=max(total_variance - float((component_std**2).sum()), 0.0) / left_out,
    )


def featurize_nofruit_photos(
    nofruit_photos: DataFrame | None, featurizer: Featurizer, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node: features of the no-fruit photos that calibrate and check "unknown".

    Only the ``calibration`` and ``check`` parts (``backgrounds.background_role``) are
    read; the rest is left to augmentation. Returns (path, role, features) as pandas (a
    few hundred rows) and the photos that could not be read, with their reason.
    """
    if nofruit_photos is None:
        return NO_PHOTOS, pd.DataFrame({"path": [], "reason": []}, dtype=object)
    listed = [p for p in listed_files(nofruit_photos) if background_role(p) != "augmentation"]
    photos = nofruit_photos.where(F.col("path").isin(listed))
    features, rejected = featurize_images(photos, listed, featurizer, params, require_label=False)
    table = features.select("path", "features").toPandas()
    table.insert(1, "role", [background_role(p) for p in table["path"]])
    return table, rejected


def _flagged(head: LinearHead, features: np.ndarray) -> np.ndarray:
    """Which rows the head's thresholds call unknown (either test)."""
    components = head.components(features)
    probability = head.probabilities(components).max(axis=1)
    return (head.distance(features, components) > head.unknown["distance_threshold"]) | (
        probability < head.unknown["probability_threshold"]
    )


def calibrate_unknown(
    linear_head: LinearHead | SkippedClassifier,
    image_features: DataFrame,
    nofruit_features: pd.DataFrame,
    params: dict[str, Any],
) -> LinearHead | SkippedClassifier:
    """Node: the head with its "unknown" thresholds and what they were measured to do.

    At least ``unknown.accept`` of the Test images keep their answer; within that, the
    thresholds flag as many no-fruit ``calibration`` photos as they can. The ``check``
    photos, never used to choose, say how that holds on photos the calibration did not
    see. Without no-fruit photos, or without a Test split, the head stays uncalibrated
    (the predictor then answers every photo and says so).
    """
    if isinstance(linear_head, SkippedClassifier):
        return linear_head
    config = UnknownParams.model_validate(params)
    calibration = nofruit_features[nofruit_features["role"] == "calibration"]
    check = nofruit_features[nofruit_features["role"] == "check"]
    # Class-labelled Test photos (Fruits-360's): family-only sources are reported apart.
    test = image_features.where((F.col("split") == "Test") & F.col("label").isNotNull())
    test = test.select("label", "features")
    rows = test.limit(MAX_CALIBRATION_ROWS).collect()
    if calibration.empty or not rows:
        logger.warning(
            '"unknown" not calibrated: %s; every photo will get an answer',
            "no no-fruit photos (nofruit_photos in the catalog, --params nofruit_path=...)"
            if calibration.empty
            else "no Test images",
        )
        return linear_head
    features = np.array([row.features for row in rows], np.float64)
    components = linear_head.components(features)
    probabilities = linear_head.probabilities(components)
    names = np.array(linear_head.labels())
    correct = names[probabilities.argmax(axis=1)] == np.array([row.label for row in rows])
    nofruit = np.stack(calibration["features"].to_numpy())
    nofruit_components = linear_head.components(nofruit)
    thresholds = calibrate(
        linear_head.distance(features, components),
        probabilities.max(axis=1),
        linear_head.distance(nofruit, nofruit_components),
        linear_head.probabilities(nofruit_components).max(axis=1),
        accept=config.accept,
    )
    head = dataclasses.replace(linear_head, unknown={**thresholds, "accept": config.accept})
    answered = ~_flagged(head, features)
    flagged_check = _flagged(head, np.stack(check["features"].to_numpy())) if len(check) else None
    measured = {
        "test_images": len(rows),
        "test_answered": float(answered.mean()),
        "test_accuracy_all": float(correct.mean()),
        "test_accuracy_answered": float(correct[answered].mean()) if answered.any() else None,
        "nofruit_calibration_photos": len(calibration),
        "nofruit_calibration_flagged": float(_flagged(head, nofruit).mean()),
        "nofruit_check_photos": len(check),
        "nofruit_check_flagged": None if flagged_check is None else float(flagged_check.mean()),
    }
    logger.info(
        '"unknown": answers %.1f%% of %d Test (accuracy %.4f, all %.4f); flags no-fruit '
        "%.1f%% of %d (calibration), %s of %d (check)",
        100 * measured["test_answered"], len(rows), measured["test_accuracy_answered"] or 0,
        measured["test_accuracy_all"], 100 * measured["nofruit_calibration_flagged"],
        len(calibration),
        "n/a" if flagged_check is None else f"{100 * measured['nofruit_check_flagged']:.1f}%",
        len(check),
    )  # fmt: skip
    return dataclasses.replace(head, unknown={**head.unknown, **measured})


def evaluate_sources(
    calibrated_head: LinearHead | SkippedClassifier, image_features: DataFrame
) -> dict[str, Any]:
    """Node: the Test photos of each source through the bundle's head, as the app sees
    them: family top-1 and top-3, class accuracy (class-labelled sources), the share
    answered (not "unknown") and family top-1 on those."""
    if isinstance(calibrated_head, SkippedClassifier):
        return {}
    head = calibrated_head
    test = image_features.where(F.col("split") == "Test")
    metrics: dict[str, Any] = {}
    sources = [r.source for r in test.select("source").distinct().collect()]
    for source in sorted(s for s in sources if s is not None):
        rows = (
            test.where(F.col("source") == source)
            .select("label", "family", "features")
            .limit(MAX_CALIBRATION_ROWS)
            .collect()
        )
        features = np.array([row.features for row in rows], np.float64)
        components = head.components(features)
        names, probabilities = head.family_probabilities(components)
        ranked = np.argsort(probabilities, axis=1)[:, ::-1][:, :3]
        truth = [row.family for row in rows]
        top1 = np.array([names[r[0]] == t for r, t in zip(ranked, truth, strict=True)])
        top3 = np.array([t in {names[i] for i in r} for r, t in zip(ranked, truth, strict=True)])
        entry = {
            "test_images": len(rows),
            "family_top1": float(top1.mean()),
            "family_top3": float(top3.mean()),
        }
        labelled = np.array([row.label is not None for row in rows])
        if labelled.any():
            predicted = np.array(head.labels())[head.probabilities(components).argmax(axis=1)]
            right = predicted == np.array([row.label for row in rows])
            entry["class_accuracy"] = float(right[labelled].mean())
        if head.unknown:
            answered = ~_flagged(head, features)
            entry["answered"] = float(answered.mean())
            entry["family_top1_answered"] = float(top1[answered].mean()) if answered.any() else None
        metrics[source] = entry
        logger.info(
            "Test of %s: family top-1/3 %.1f%%/%.1f%%%s", source, 100 * entry["family_top1"],
            100 * entry["family_top3"],
            f", answered {entry['answered']:.1%}" if "answered" in entry else "",
        )  # fmt: skip
    return metrics
