"""Train a multinomial logistic regression on PCA components and evaluate it per class."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import IndexToString, StringIndexer, VectorAssembler
from pyspark.mllib.evaluation import MulticlassMetrics
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fruits_pipeline.params import ClassificationParams
from fruits_pipeline.pipelines.featurization.nodes import COMPOSITE_PREFIX

logger = logging.getLogger(__name__)

COMPONENTS_VECTOR = "components"
PREDICTED_LABEL = "predicted_label"
MIN_CLASSES = 2
MIN_IMAGES_PER_CLASS = 2


@dataclass(frozen=True)
class SkippedClassifier:
    """What ``train_classifier`` returns when the data cannot support a classifier."""

    reason: str


def _component_columns(pca_features: DataFrame) -> list[str]:
    return [c for c in pca_features.columns if c.startswith("pca_")]


def class_rows(pca_features: DataFrame) -> DataFrame:
    """The photos with a class (family-labelled sources only train the family head)."""
    return pca_features.where(F.col("label").isNotNull())


def why_not_classify(pca_features: DataFrame, column: str = "label") -> str | None:
    """Why no classifier can be trained and evaluated here, or None when one can."""
    counts = {
        (r[column], r.split): r["count"]
        for r in pca_features.where(F.col(column).isNotNull())
        .groupBy(column, "split")
        .count()
        .collect()
    }
    per_class: dict[str, int] = {}
    for (label, _split), n in counts.items():
        per_class[label] = per_class.get(label, 0) + n
    if len(per_class) < MIN_CLASSES:
        return f"{len(per_class)} class(es); a classifier needs at least {MIN_CLASSES}"
    small = sorted(label for label, n in per_class.items() if n < MIN_IMAGES_PER_CLASS)
    if small:
        return (
            f"class(es) {small} have fewer than {MIN_IMAGES_PER_CLASS} images (one to train, "
            "one to test)"
        )
    if not any(split == "Test" for _label, split in counts):
        return "no image in the Test split"
    return None


def train_classifier(
    pca_features: DataFrame, params: dict[str, Any]
) -> PipelineModel | SkippedClassifier:
    """Fit assembler -> label indexer -> multinomial logistic regression on Training.

    With fewer than 2 classes, or a class of fewer than 2 images, there is nothing to
    learn or to test: classification is skipped (one log line); features, PCA and
    reports are still written.
    """
    pca_features = class_rows(pca_features)
    reason = why_not_classify(pca_features)
    if reason is not None:
        logger.info("classification skipped: %s", reason)
        return SkippedClassifier(reason)
    weighted = pca_features.withColumn("weight", _row_weight(params))
    return _fit(weighted, "label", params)


def train_family_classifier(
    pca_features: DataFrame, params: dict[str, Any]
) -> PipelineModel | SkippedClassifier:
    """Fit the same recipe on families, over every source, with class-balanced weights
    (a family of many classes, such as Apple, would otherwise swallow the others).

    The app answers the family first, and on real photos a head trained on families did
    better than the class head's probabilities summed per family (issue 20's table: 22% /
    54% family top-1 / top-3 against 16% / 38%, on different composite sets); it also
    learns from the sources labelled by family only.
    """
    reason = why_not_classify(pca_features, "family")
    if reason is not None:
        logger.info("family head skipped: %s", reason)
        return SkippedClassifier(reason)
    weighted = pca_features.withColumn("weight", _row_weight(params))
    training = weighted.where(F.col("split") == "Training")
    counts = {
        r.family: r.total
        for r in training.groupBy("family").agg(F.sum("weight").alias("total")).collect()
    }
    total = sum(counts.values())
    balance = F.create_map(
        *[x for f, n in counts.items() for x in (F.lit(f), F.lit(total / (len(counts) * n)))]
    )
    weighted = weighted.withColumn("weight", F.col("weight") * balance[F.col("family")])
    return _fit(weighted, "family", params)


def _row_weight(params: dict[str, Any]):
    """Each Training row's weight: ``composite_weight`` for a composite, 1 for a photo."""
    config = ClassificationParams.model_validate(params)
    composite = F.col("path").startswith(COMPOSITE_PREFIX)
    return F.when(composite, F.lit(config.composite_weight)).otherwise(F.lit(1.0))


def _fit(pca_features: DataFrame, column: str, params: dict[str, Any]) -> PipelineModel:
    """Assembler -> indexer of ``column`` -> multinomial logistic regression, on Training,
    each row weighted by its ``weight`` column."""
    config = ClassificationParams.model_validate(params)
    regression = LogisticRegression(
        featuresCol=COMPONENTS_VECTOR,
        labelCol="label_index",
        family="multinomial",
        maxIter=config.max_iter,
        regParam=config.reg_param,
        elasticNetParam=config.elastic_net_param,
        standardization=True,
        weightCol="weight",
    )
    stages = [
        VectorAssembler(inputCols=_component_columns(pca_features), outputCol=COMPONENTS_VECTOR),
        StringIndexer(inputCol=column, outputCol="label_index"),
        regression,
    ]
    training = pca_features.where(F.col("split") == "Training")
    fitted = Pipeline(stages=stages).fit(training)
    labels = fitted.stages[1].labels
    # Names back on the predictions: what a user of the model wants to read.
    to_name = IndexToString(inputCol="prediction", outputCol=PREDICTED_LABEL, labels=labels)
    logger.info(
        "%s head trained on %d images, %d %s",
        "class" if column == "label" else column, training.count(), len(labels),
        "classes" if column == "label" else "families",
    )  # fmt: skip
    return PipelineModel(stages=[*fitted.stages, to_name])


def classification_report(predictions: DataFrame) -> dict[str, Any]:
    """Accuracy, macro F1, per-class precision/recall/F1 and the most confused pairs.

    ``predictions`` holds the true ``label`` and the ``predicted_label`` (class names).
    The per-class figures come from Spark MLlib's ``MulticlassMetrics``; the classes are
    those of either column, and one that is predicted but absent from the true labels
    scores 0 (Spark has no row of its own for it). Macro F1 is their unweighted mean.
    """
    pairs = predictions.select("label", PREDICTED_LABEL)
    table = pairs.toPandas()  # one split's names: small
    classes = sorted(set(table["label"]) | set(table[PREDICTED_LABEL]))
    index = F.create_map(*[x for i, name in enumerate(classes) for x in (F.lit(name), F.lit(i))])
    as_numbers = pairs.select(
        index[F.col(PREDICTED_LABEL)].cast("double"), index[F.col("label")].cast("double")
    )
    with warnings.catch_warnings():
        # pyspark's own mllib wrapper calls its deprecated SQLContext.getOrCreate.
        warnings.filterwarnings("ignore", "Deprecated in 3.0.0", FutureWarning)
        metrics = MulticlassMetrics(as_numbers.rdd)
    support = table["label"].value_counts()
    per_class = {}
    for i, name in enumerate(classes):
        present = name in support.index
        per_class[name] = {
            "precision": metrics.precision(float(i)) if present else 0.0,
            "recall": metrics.recall(float(i)) if present else 0.0,
            "f1": metrics.fMeasure(float(i), 1.0) if present else 0.0,
            "support": int(support.get(name, 0)),
        }
    report = {
        "accuracy": float(metrics.accuracy),
        "macro_f1": float(np.mean([m["f1"] for m in per_class.values()])),
        "n_test_images": len(table),
        "per_class": per_class,
        "confused_pairs": confused_pairs(table["label"], table[PREDICTED_LABEL]),
    }
    return report


def confused_pairs(labels: pd.Series, predicted: pd.Series, top: int = 10) -> list[dict]:
    """The most frequent (true, predicted) mistakes, with their share of the true class."""
    wrong = pd.DataFrame({"true": labels, "predicted": predicted})[labels != predicted]
    counts = wrong.value_counts().rename("images").reset_index()
    counts = counts.sort_values(["images", "true", "predicted"], ascending=[False, True, True])
    support = labels.value_counts()
    return [
        {
            "true": row.true,
            "predicted": row.predicted,
            "count": int(row.images),
            "share_of_true": float(row.images / support[row.true]),
        }
        for row in counts.head(top).itertuples(index=False)
    ]


def evaluate_classifier(
    pca_features: DataFrame, classifier: PipelineModel | SkippedClassifier
) -> tuple[dict[str, Any], Figure]:
    """Score the Test split: metrics (JSON) and the confusion matrix (PNG)."""
    if isinstance(classifier, SkippedClassifier):
        return {"skipped": classifier.reason}, _skipped_figure(classifier.reason)
    test = class_rows(pca_features).where(F.col("split") == "Test")
    scored = classifier.transform(test).select("label", PREDICTED_LABEL).cache()
    metrics = classification_report(scored)
    predictions = scored.toPandas()
    scored.unpersist()
    logger.info(
        "Test split: accuracy %.4f, macro F1 %.4f on %d images",
        metrics["accuracy"], metrics["macro_f1"], metrics["n_test_images"],
    )  # fmt: skip
    return metrics, plot_confusion_matrix(predictions["label"], predictions[PREDICTED_LABEL])


def _skipped_figure(reason: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, f"No classifier: {reason}", ha="center", va="center", wrap=True)
    plt.close(fig)
    return fig


def plot_confusion_matrix(labels: pd.Series, predicted: pd.Series) -> Figure:
    classes = sorted(set(labels) | set(predicted))
    counts = pd.crosstab(labels, predicted).reindex(index=classes, columns=classes, fill_value=0)
    # Row-normalized: each true class's share per predicted class, comparable across
    # classes of different sizes (the diagonal is the recall).
    shares = counts.div(counts.sum(axis=1).replace(0, 1), axis=0)
    size = max(6.0, 0.32 * len(classes))
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(shares.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(
        f"Confusion matrix, Test split, share of each true class "
        f"(accuracy {(labels == predicted).mean():.1%})"
    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    plt.close(fig)
    return fig
