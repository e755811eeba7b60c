"""Reports: summary.md's tables, and figures computed by Spark without dragging image
bytes or every row to the driver."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pandas as pd

from fruits_pipeline.pipelines.classification.nodes import classification_report
from fruits_pipeline.pipelines.reporting.nodes import (
    label_split_counts,
    plot_sample_grid,
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
    metrics = classification_report(pd.Series(labels), pd.Series(predicted))
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
