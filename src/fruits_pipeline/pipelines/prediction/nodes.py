"""Prediction: a model bundle applied to photos. One code path for the pipeline and the CLI."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from fruits_pipeline.artifacts import ModelBundle
from fruits_pipeline.engine import judge
from fruits_pipeline.engine.predictor import NOT_CALIBRATED
from fruits_pipeline.errors import UserError
from fruits_pipeline.pipelines.featurization.nodes import featurize_images, listed_files
from fruits_pipeline.pipelines.reduction.nodes import transform_features

PREDICTION_COLUMNS = [
    "path", "predicted_label", "probability", "top_3", "family", "unknown", "reason"
]  # fmt: skip


def answers(
    pca_features: DataFrame, features: DataFrame, model_bundle: ModelBundle, top: int = 3
) -> pd.DataFrame:
    """One row per photo: the Spark classifier's top classes, the family and "unknown".

    The probabilities are Spark ML's; the family and the unknown test apply the bundle's
    head to the same PCA components (as ``engine.Predictor`` does without Spark).
    """
    classifier, head = model_bundle.classifier, model_bundle.head
    if head is None:
        raise UserError(
            f"Model bundle {model_bundle.version} was written by an older version (no "
            "head.npz); rerun `kedro run`, or pass --params model_version= of a newer one."
        )
    labels = classifier.stages[1].labels
    columns = [c for c in pca_features.columns if c.startswith("pca_")]
    scored = classifier.transform(pca_features.join(features.select("path", "features"), "path"))
    rows = scored.select("path", "probability", "features", *columns).collect()
    rows.sort(key=lambda row: row.path)
    if not rows:
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    probabilities = np.array([row.probability.toArray() for row in rows])
    components = np.array([[row[c] for c in columns] for row in rows])
    families, family_probabilities = head.family_probabilities(components)
    calibrated = bool(head.unknown)
    reasons = (
        judge(
            head.distance(np.array([row.features for row in rows]), components),
            probabilities.max(axis=1),
            head.unknown,
        )
        if calibrated
        else [NOT_CALIBRATED] * len(rows)
    )
    table = []
    for row, p, f, reason in zip(rows, probabilities, family_probabilities, reasons, strict=True):
        best = np.argsort(p)[::-1][:top]
        table.append(
            {
                "path": row.path,
                "predicted_label": labels[best[0]],
                "probability": float(p[best[0]]),
                "top_3": "; ".join(f"{labels[i]} {p[i]:.3f}" for i in best),
                "family": families[int(np.argmax(f))],
                "unknown": (reason is not None) if calibrated else None,
                "reason": reason,
            }
        )
    return pd.DataFrame(table, columns=PREDICTION_COLUMNS)


def predict_photos(
    photos_to_predict: DataFrame, model_bundle: ModelBundle, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node: the top-3 classes, family and unknown flag of every photo, with the bundle's
    featurizer, PCA and classifier.

    The bundle's featurizer settings are used, whatever ``featurization`` says now (only
    its speed knobs, such as ``batch_size``, apply). Unreadable photos are returned apart
    with their reason.
    """
    if model_bundle.classifier is None:
        raise UserError(
            f"Model bundle {model_bundle.version} has no classifier "
            f"({model_bundle.manifest.get('classifier')}); train on a folder with at least "
            "2 classes of 2 images, or pass --params model_version= of another bundle."
        )
    files = listed_files(photos_to_predict)
    features, rejected = featurize_images(
        photos_to_predict, files, model_bundle.featurizer, params, require_label=False
    )
    pca_features = transform_features(features, model_bundle.reduction)
    return answers(pca_features, features, model_bundle), rejected
