"""Figures for people: matplotlib figures saved as PNG by the catalog."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fruits_pipeline.datasets.hadoop_fs import glob_escape
from fruits_pipeline.pipelines.featurization.model import open_image
from fruits_pipeline.pipelines.featurization.nodes import COMPOSITE_PREFIX

logger = logging.getLogger(__name__)


def plot_scree(
    explained_variance: pd.DataFrame,
    reduction_model: PipelineModel,
    reduction_params: dict[str, Any],
) -> Figure:
    """Cumulative explained variance per component, with the threshold and the chosen k."""
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.bar(
        explained_variance["component"], explained_variance["ratio"],
        color="tab:gray", alpha=0.5, label="per component",
    )  # fmt: skip
    ax.plot(
        explained_variance["component"], explained_variance["cumulative"],
        color="tab:blue", label="cumulative",
    )  # fmt: skip
    k = reduction_model.stages[-1].getK()
    if reduction_params.get("k") is None:
        threshold = reduction_params["variance_threshold"]
        ax.axhline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:.0%}")
    ax.axvline(k, color="tab:green", linestyle=":", label=f"k = {k}")
    ax.set_xlabel("principal component")
    ax.set_ylabel("explained variance ratio")
    ax.set_ylim(0, 1.02)
    # The interesting part is around k; the long flat tail would squash it.
    ax.set_xlim(0, min(len(explained_variance), max(4 * k, 50)) + 1)
    ax.set_title("PCA of MobileNetV2 image features")
    ax.legend(loc="center right")
    fig.tight_layout()
    plt.close(fig)
    return fig


def label_split_counts(pca_features: DataFrame) -> pd.DataFrame:
    """Images per class (or family, for family-labelled sources) and split: counted by
    Spark, one small table on the driver whatever the number of images."""
    named = F.coalesce(F.col("label"), F.concat(F.col("family"), F.lit(" (family)")))
    counts = (
        pca_features.groupBy(
            named.alias("label"), F.coalesce(F.col("split"), F.lit("none")).alias("split")
        )
        .count()
        .toPandas()
    )
    table = counts.pivot(index="label", columns="split", values="count")
    return table.fillna(0).astype(int).sort_index(axis=0).sort_index(axis=1)


def plot_label_counts(pca_features: DataFrame) -> Figure:
    """Images per class (or family, for family-labelled sources) and split, as bars."""
    counts = label_split_counts(pca_features)
    fig, ax = plt.subplots(figsize=(9, max(4.0, 0.28 * len(counts))))
    counts.sort_index(ascending=False).plot.barh(stacked=True, ax=ax, width=0.8)
    ax.set_xlabel("images")
    ax.set_ylabel("")
    ax.set_title(f"{int(counts.to_numpy().sum())} images in {len(counts)} classes")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_sample_grid(image_features: DataFrame, per_class: int = 4) -> Figure:
    """A few featurized images of every class: one row per class.

    The first ``per_class`` paths per class are picked from the features (no image
    bytes), then only those files are read.
    """
    first = Window.partitionBy("label").orderBy("path")
    chosen = (
        image_features.where(
            F.col("label").isNotNull() & ~F.col("path").startswith(COMPOSITE_PREFIX)
        )  # photos only: composites are no files
        .select("path", "label")
        .withColumn("rank", F.row_number().over(first))
        .where(F.col("rank") <= per_class)
        .toPandas()
    )
    contents = (
        image_features.sparkSession.read.format("binaryFile")
        .load([glob_escape(path) for path in chosen["path"]])
        .select("path", "content")
        .toPandas()
    )
    samples = chosen.merge(contents, on="path", how="left")
    classes = sorted(samples["label"].unique())
    fig, axes = plt.subplots(
        len(classes), per_class, figsize=(1.4 * per_class + 1.6, 1.3 * len(classes)), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for row, label in enumerate(classes):
        axes[row][0].set_title(label, fontsize=8, loc="left")
        rows = samples[samples["label"] == label].sort_values("rank")
        for col, (path, content) in enumerate(zip(rows["path"], rows["content"], strict=True)):
            try:
                if content is None:
                    raise FileNotFoundError(path)
                with open_image(content) as image:  # the featurizer's formats and cap
                    axes[row][col].imshow(image.convert("RGB"))
            except (OSError, ValueError) as error:
                # Changed on disk since it was featurized (incremental mode reuses by key).
                logger.warning("sample grid: cannot show %s (%s)", path, error)
                axes[row][col].text(0.5, 0.5, "unreadable", ha="center", fontsize=7)
    fig.tight_layout()
    plt.close(fig)
    return fig


# Dots drawn in the PCA scatter at most: a seeded sample beyond it (centroids use every row).
SCATTER_POINTS = 20_000


def scatter_points(
    pca_features: DataFrame, max_points: int = SCATTER_POINTS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first two components of at most ``max_points`` labelled images (a seeded sample)
    and every class's image count and centroid, computed by Spark."""
    axes = [c for c in ("pca_1", "pca_2") if c in pca_features.columns]
    labelled = pca_features.where(F.col("label").isNotNull())
    centroids = (
        labelled.groupBy("label")
        .agg(F.count("*").alias("images"), *[F.avg(c).alias(c) for c in axes])
        .toPandas()
        .sort_values(["images", "label"], ascending=[False, True])
        .set_index("label")
    )
    total = int(centroids["images"].sum())
    if total > max_points:
        labelled = labelled.sample(fraction=min(1.0, 1.1 * max_points / total), seed=0)
        labelled = labelled.orderBy(F.xxhash64("path")).limit(max_points)
    return labelled.select("label", *axes).toPandas(), centroids


def plot_pca_scatter(pca_features: DataFrame) -> Figure:
    """First two components: every image a faint dot, every class its name at its centroid.

    Names, not a legend of colours, so 33 or 131 classes stay readable. With k = 1,
    pca_1 per class (a strip). Beyond SCATTER_POINTS images, a seeded sample of the dots.
    """
    # Rows without a class label have no centroid to name.
    pca_features_table, centroids = scatter_points(pca_features)
    order = centroids.index
    one_dimensional = "pca_2" not in pca_features_table.columns
    colours = plt.get_cmap("tab20")
    if one_dimensional:
        fig, ax = plt.subplots(figsize=(10, max(4.0, 0.25 * len(order))))
    else:
        fig, ax = plt.subplots(figsize=(12, 9))
    for i, label in enumerate(order):
        rows = pca_features_table[pca_features_table["label"] == label]
        y = np.full(len(rows), i, dtype=float) if one_dimensional else rows["pca_2"]
        ax.scatter(rows["pca_1"], y, s=5, alpha=0.35, color=colours(i % 20), linewidths=0)
    ax.set_xlabel("pca_1")
    if one_dimensional:
        ax.set_yticks(range(len(order)), list(order), fontsize=7)
        ax.set_title(f"The only principal component (k = 1), per class ({len(order)} classes)")
    else:
        centroids = centroids[["pca_1", "pca_2"]]
        fontsize = 8 if len(centroids) <= 40 else 6
        for i, label in enumerate(order):
            x, y = centroids.loc[label]
            ax.plot(x, y, marker="o", color=colours(i % 20), markeredgecolor="black", ms=5)
            ax.annotate(
                label, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=fontsize,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.6},
            )  # fmt: skip
        ax.set_ylabel("pca_2")
        ax.set_title(
            f"First two principal components: class centroids ({len(order)} classes), "
            "every image a dot"
        )
    fig.tight_layout()
    plt.close(fig)
    return fig


def write_summary(
    pca_features: DataFrame,
    explained_variance: pd.DataFrame,
    classification_metrics: dict[str, Any],
    rejected_images: pd.DataFrame,
    input_summary: dict[str, Any],
) -> str:
    """summary.md: what was processed, k, variance, accuracy, and links to the figures."""
    k = sum(c.startswith("pca_") for c in pca_features.columns)
    split = F.coalesce(F.col("split"), F.lit("none"))
    splits = {
        r.split: r["count"] for r in pca_features.groupBy(split.alias("split")).count().collect()
    }
    n_classes = pca_features.select(F.countDistinct("label")).first()[0]
    if "skipped" in classification_metrics:
        classifier = f"- classifier: skipped ({classification_metrics['skipped']})"
    else:
        classifier = (
            f"- classifier on the Test split: accuracy {classification_metrics['accuracy']:.2%}, "
            f"macro F1 {classification_metrics['macro_f1']:.4f} "
            f"({classification_metrics['n_test_images']} images)"
        )
    lines = [
        "# fruits_pipeline run summary",
        "",
        f"- input: `{input_summary['input_path']}`; Training/Test split: {input_summary['split']}",
        f"- images featurized: {sum(splits.values())} "
        f"({', '.join(f'{name} {count}' for name, count in sorted(splits.items()))})",
        f"- images rejected: {len(rejected_images)} (see `rejected_images.csv`)",
        f"- classes: {n_classes}",
        f"- PCA (fitted on the Training split) components kept: k = {k}, explaining "
        f"{explained_variance['cumulative'].iloc[k - 1]:.2%} of the Training variance",
        classifier,
        *_confused_pairs_table(classification_metrics.get("confused_pairs")),
        "",
        "## Figures",
        "",
        *(f"- [{name}]({name}.png)" for name in FIGURES),
        "",
    ]
    return "\n".join(lines)


def _confused_pairs_table(pairs: list[dict] | None) -> list[str]:
    if pairs is None:  # no classifier
        return []
    if not pairs:
        return ["", "## Most confused pairs (Test split)", "", "No Test image misclassified."]
    return [
        "",
        "## Most confused pairs (Test split)",
        "",
        "| true class | predicted as | images | share of the true class |",
        "|---|---|---:|---:|",
        *(
            f"| {p['true']} | {p['predicted']} | {p['count']} | {p['share_of_true']:.1%} |"
            for p in pairs
        ),
    ]


FIGURES = ("label_counts", "sample_grid", "scree_plot", "pca_scatter", "confusion_matrix")


def _png(figure: Figure, dpi: int) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def render_reports(
    run_summary: str,
    classification_metrics: dict[str, Any],
    explained_variance: pd.DataFrame,
    rejected_images: pd.DataFrame,
    scree_plot: Figure,
    label_counts: Figure,
    sample_grid: Figure,
    pca_scatter: Figure,
    confusion_matrix: Figure,
) -> dict[str, bytes]:
    """Node: the run's reports as files, published inside the model bundle (all or none)."""
    return {
        "summary.md": run_summary.encode(),
        "classification_metrics.json": json.dumps(classification_metrics, indent=2).encode(),
        "explained_variance.csv": explained_variance.to_csv(index=False).encode(),
        "rejected_images.csv": rejected_images.to_csv(index=False).encode(),
        "scree_plot.png": _png(scree_plot, 120),
        "label_counts.png": _png(label_counts, 110),
        "sample_grid.png": _png(sample_grid, 90),
        "pca_scatter.png": _png(pca_scatter, 110),
        "confusion_matrix.png": _png(confusion_matrix, 120),
    }
