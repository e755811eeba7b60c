"""The reporting nodes: summary.md (with the most confused pairs), the figures and the
report files published in the bundle, computed by Spark without dragging image bytes or
every row to the driver."""

from __future__ import annotations

import io
import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest

from fruits_pipeline.pipelines.classification.nodes import (
    classification_report,
    plot_confusion_matrix,
)
from fruits_pipeline.pipelines.reduction.nodes import fit_reduction
from fruits_pipeline.pipelines.reporting.nodes import (
    FIGURES,
    label_split_counts,
    plot_label_counts,
    plot_sample_grid,
    plot_scree,
    render_reports,
    scatter_points,
    write_summary,
)
from tests.conftest import sample_files


def summary_for(spark, labels: list[str], predicted: list[str]) -> str:
    table = pd.DataFrame(
        {
            "path": [str(i) for i in range(len(labels))],
            "label": labels,
            "split": "Test",
            "pca_1": 0.0,
            "pca_2": 0.0,
        }
    )
    variance = pd.DataFrame({"component": [1, 2], "ratio": [0.6, 0.4], "cumulative": [0.6, 1.0]})
    pairs = spark.createDataFrame(
        list(zip(labels, predicted, strict=True)), ["label", "predicted_label"]
    )
    metrics = classification_report(pairs)
    return write_summary(
        spark.createDataFrame(table), variance, metrics, pd.DataFrame({"path": []}),
        {"input_path": "photos", "split": "folders"},
    )  # fmt: skip


def test_summary_lists_the_most_confused_pairs(spark):
    summary = summary_for(
        spark, ["Kiwi", "Kiwi", "Kiwi", "Lemon"], ["Lemon", "Lemon", "Kiwi", "Lemon"]
    )
    lines = summary.splitlines()
    assert "- images featurized: 4 (Test 4)" in lines and "- classes: 2" in lines
    start = lines.index("## Most confused pairs (Test split)")
    assert lines[start + 2 : start + 5] == [
        "| true class | predicted as | images | share of the true class |",
        "|---|---|---:|---:|",
        "| Kiwi | Lemon | 2 | 66.7% |",
    ]
    assert lines[start + 5] == ""


def test_summary_says_when_nothing_was_confused(spark):
    summary = summary_for(spark, ["Kiwi", "Lemon"], ["Kiwi", "Lemon"])
    assert "No Test image misclassified." in summary


def test_counts_and_scatter_come_from_spark_aggregates_and_a_capped_sample(spark):
    rng = np.random.default_rng(0)
    n = 3000
    table = pd.DataFrame(
        {
            "path": [f"file:/p/{i}.jpg" for i in range(n)],
            "label": rng.choice(["Kiwi", "Lemon", None], n),
            "family": "Fam",
            "split": rng.choice(["Training", "Test", None], n),
            "pca_1": rng.normal(size=n),
            "pca_2": rng.normal(size=n),
        }
    )
    features = spark.createDataFrame(table)

    named = table["label"].fillna("Fam (family)")
    expected = pd.crosstab(named, table["split"].fillna("none"))
    counts = label_split_counts(features)
    assert counts.to_dict() == expected.to_dict()

    points, centroids = scatter_points(features, max_points=500)
    labelled = table[table["label"].notna()]
    assert len(points) == 500 and set(points["label"]) == {"Kiwi", "Lemon"}
    assert points.merge(labelled, on=["label", "pca_1", "pca_2"]).shape[0] == 500
    means = labelled.groupby("label")[["pca_1", "pca_2"]].mean()  # every row, not the sample
    np.testing.assert_allclose(centroids[["pca_1", "pca_2"]], means.loc[centroids.index])
    assert centroids["images"].to_dict() == labelled["label"].value_counts().to_dict()
    assert scatter_points(features, max_points=500)[0].equals(points)  # seeded


def test_sample_grid_reads_only_the_files_it_shows(spark, tmp_path, caplog):
    """Rows of 2 classes x 6 images; only the 2 shown per class exist on disk: reading any
    other file (or every file) would fail, and every shown cell holds its photo."""
    rows = []
    for label in ("Kiwi", "Lemon"):
        files = sample_files("Training", label)[:6]
        (tmp_path / label).mkdir()
        for rank, source in enumerate(files):
            target = tmp_path / label / f"{rank}.jpg"
            if rank < 2:  # the first paths of the class: the ones shown
                shutil.copy(source, target)
            rows.append((f"file:{target}", label))
    features = spark.createDataFrame(rows, "path string, label string")
    with caplog.at_level(logging.WARNING):
        figure = plot_sample_grid(features, per_class=2)
    assert not [r for r in caplog.records if "sample grid" in r.getMessage()]
    assert [len(ax.get_images()) for ax in figure.axes] == [1, 1, 1, 1]


def test_label_counts_bars_add_up_to_the_images_per_class_and_split(spark):
    table = pd.DataFrame(
        {
            "label": ["Kiwi", "Kiwi", "Kiwi", "Lemon", None, None],
            "family": ["Kiwi", "Kiwi", "Kiwi", "Lemon", "Apple", "Apple"],
            "split": ["Training", "Training", "Test", "Test", "Training", None],
        }
    )
    (ax,) = plot_label_counts(spark.createDataFrame(table)).axes
    assert ax.get_title() == "6 images in 3 classes"
    # One bar per (name, split): its width is the count, stacked per name.
    widths: dict[str, float] = {}
    for bars, split in zip(ax.containers, ax.get_legend_handles_labels()[1], strict=True):
        for bar, name in zip(bars, [t.get_text() for t in ax.get_yticklabels()], strict=True):
            widths[f"{name}/{split}"] = bar.get_width()
    assert widths["Kiwi/Training"] == 2 and widths["Kiwi/Test"] == 1
    assert widths["Apple (family)/Training"] == 1 and widths["Apple (family)/none"] == 1
    assert sum(widths.values()) == len(table)


@pytest.mark.parametrize("k", [None, 3])
def test_scree_marks_the_chosen_k_and_the_threshold_it_came_from(spark, k):
    rng = np.random.default_rng(0)
    rows = [
        (f"img{i}", "Training", (rng.normal(size=8) * np.arange(8, 0, -1)).tolist())
        for i in range(40)
    ]
    features = spark.createDataFrame(rows, ["path", "split", "features"])
    params = {"k": k, "variance_threshold": 0.8, "standardize": False}
    model, explained = fit_reduction(features, params)
    (ax,) = plot_scree(explained, model, params).axes
    chosen = model.stages[-1].getK()
    assert chosen == (k or int(np.searchsorted(explained["cumulative"], 0.8) + 1))
    labels = ax.get_legend_handles_labels()[1]
    assert f"k = {chosen}" in labels
    assert ("threshold 80%" in labels) == (k is None)
    (k_line,) = [line for line in ax.lines if line.get_label() == f"k = {chosen}"]
    assert k_line.get_xdata()[0] == chosen


def test_rendered_reports_are_the_nine_files_with_the_run_s_values(spark):
    labels, predicted = ["Kiwi", "Kiwi", "Lemon"], ["Kiwi", "Lemon", "Lemon"]
    pairs = spark.createDataFrame(
        list(zip(labels, predicted, strict=True)), ["label", "predicted_label"]
    )
    metrics = classification_report(pairs)
    variance = pd.DataFrame({"component": [1, 2], "ratio": [0.6, 0.4], "cumulative": [0.6, 1.0]})
    rejected = pd.DataFrame({"path": ["bad.jpg"], "reason": ["not an image"]})
    figures = [plot_confusion_matrix(pd.Series(labels), pd.Series(predicted))] * 5
    files = render_reports("# summary", metrics, variance, rejected, *figures)

    assert set(files) == {
        "summary.md", "classification_metrics.json", "explained_variance.csv",
        "rejected_images.csv", *(f"{name}.png" for name in FIGURES),
    }  # fmt: skip
    assert all(files[f"{name}.png"][:8] == b"\x89PNG\r\n\x1a\n" for name in FIGURES)
    assert json.loads(files["classification_metrics.json"]) == metrics
    pd.testing.assert_frame_equal(
        pd.read_csv(io.BytesIO(files["explained_variance.csv"])), variance
    )
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(files["rejected_images.csv"])), rejected)
    assert files["summary.md"] == b"# summary"


def test_summary_counts_images_classes_k_and_accuracy(spark):
    summary = summary_for(spark, ["Kiwi", "Kiwi", "Lemon"], ["Kiwi", "Lemon", "Lemon"])
    assert "- images featurized: 3 (Test 3)" in summary
    assert "- classes: 2" in summary
    # The table has pca_1 and pca_2: k = 2, whose cumulative share is 100%.
    assert "components kept: k = 2, explaining 100.00% of the Training variance" in summary
    assert "accuracy 66.67%, macro F1 0.6667 (3 images)" in summary
    assert [line for line in summary.splitlines() if line.startswith("- [")] == [
        f"- [{name}]({name}.png)" for name in FIGURES
    ]
