"""Prediction: a model bundle applied to photos. One code path for the pipeline and the CLI."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from fruits_pipeline.artifacts import ModelBundle
from fruits_pipeline.errors import UserError
from fruits_pipeline.pipelines.featurization.nodes import featurize_images, listed_files
from fruits_pipeline.pipelines.reduction.nodes import transform_features

PREDICTION_COLUMNS = ["path", "predicted_label", "probability", "top_3"]


def top_classes(
    pca_features: DataFrame, classifier, top: int = 3
) -> list[tuple[str, list[tuple[str, float]]]]:
    """(path, [(class, probability) x top]) per row, best class first."""
    labels = classifier.stages[1].labels
    rows = classifier.transform(pca_features).select("path", "probability").collect()
    ranked = []
    for row in rows:
        probabilities = row.probability.toArray()
        best = np.argsort(probabilities)[::-1][:top]
        ranked.append((row.path, [(labels[i], float(probabilities[i])) for i in best]))
    return ranked


def predict_photos(
    photos_to_predict: DataFrame, model_bundle: ModelBundle, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node: the top-3 classes of every photo, with the bundle's featurizer, PCA and classifier.

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
    ranked = top_classes(
        transform_features(features, model_bundle.reduction), model_bundle.classifier
    )
    predictions = pd.DataFrame(
        [
            {
                "path": path,
                "predicted_label": best[0][0],
                "probability": best[0][1],
                "top_3": "; ".join(f"{label} {p:.3f}" for label, p in best),
            }
            for path, best in sorted(ranked)
        ],
        columns=PREDICTION_COLUMNS,
    )
    return predictions, rejected
