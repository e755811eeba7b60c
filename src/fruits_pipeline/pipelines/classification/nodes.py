"""Train a multinomial logistic regression on PCA components and evaluate it per class."""

from __future__ import annotations

import logging
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import IndexToString, StringIndexer, VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

logger = logging.getLogger(__name__)

COMPONENTS_VECTOR = "components"
PREDICTED_LABEL = "predicted_label"


def _component_columns(pca_features: DataFrame) -> list[str]:
    return [c for c in pca_features.columns if c.startswith("pca_")]


def _split(pca_features: DataFrame, split: str) -> DataFrame:
    rows = pca_features.where(F.col("split") == split)
    if rows.isEmpty():
        raise ValueError(
            f"No image of the '{split}' split in pca_features: the input folder needs "
            f"Training/<Class>/ and Test/<Class>/ sub-folders to train and evaluate."
        )
    return rows


def train_classifier(pca_features: DataFrame, params: dict[str, Any]) -> PipelineModel:
    """Fit assembler -> label indexer -> multinomial logistic regression on the Training split."""
    indexer = StringIndexer(inputCol="label", outputCol="label_index")
    regression = LogisticRegression(
        featuresCol=COMPONENTS_VECTOR,
        labelCol="label_index",
        family="multinomial",
        maxIter=params["max_iter"],
        regParam=params["reg_param"],
        elasticNetParam=params["elastic_net_param"],
        standardization=True,
    )
    stages = [
        VectorAssembler(inputCols=_component_columns(pca_features), outputCol=COMPONENTS_VECTOR),
        indexer,
        regression,
    ]
    training = _split(pca_features, "Training")
    fitted = Pipeline(stages=stages).fit(training)
    labels = fitted.stages[1].labels
    # Class names back on the predictions: what a user of the model wants to read.
    to_name = IndexToString(inputCol="prediction", outputCol=PREDICTED_LABEL, labels=labels)
    logger.info("classifier trained on %d images, %d classes", training.count(), len(labels))
    return PipelineModel(stages=[*fitted.stages, to_name])


def classification_report(labels: pd.Series, predicted: pd.Series) -> dict[str, Any]:
    """Accuracy, macro F1 and per-class precision/recall/F1 from true and predicted names."""
    classes = sorted(set(labels) | set(predicted))
    per_class = {}
    for name in classes:
        true_positive = int(((labels == name) & (predicted == name)).sum())
        precision = true_positive / max(int((predicted == name).sum()), 1)
        recall = true_positive / max(int((labels == name).sum()), 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": int((labels == name).sum()),
        }
    return {
        "accuracy": float((labels == predicted).mean()),
        "macro_f1": float(np.mean([m["f1"] for m in per_class.values()])),
        "n_test_images": len(labels),
        "per_class": per_class,
    }


def evaluate_classifier(
    pca_features: DataFrame, classifier: PipelineModel
) -> tuple[dict[str, Any], Figure]:
    """Score the Test split: metrics (JSON) and the confusion matrix (PNG)."""
    predictions = (
        classifier.transform(_split(pca_features, "Test"))
        .select("label", PREDICTED_LABEL)
        .toPandas()
    )
    metrics = classification_report(predictions["label"], predictions[PREDICTED_LABEL])
    logger.info(
        "Test split: accuracy %.4f, macro F1 %.4f on %d images",
        metrics["accuracy"], metrics["macro_f1"], metrics["n_test_images"],
    )  # fmt: skip
    return metrics, plot_confusion_matrix(predictions["label"], predictions[PREDICTED_LABEL])


def plot_confusion_matrix(labels: pd.Series, predicted: pd.Series) -> Figure:
    classes = sorted(set(labels) | set(predicted))
    counts = pd.crosstab(labels, predicted).reindex(index=classes, columns=classes, fill_value=0)
    size = max(6.0, 0.32 * len(classes))
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(counts.to_numpy(), cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix, Test split (accuracy {(labels == predicted).mean():.1%})")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    plt.close(fig)
    return fig
