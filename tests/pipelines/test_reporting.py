"""summary.md: the most confused pairs of the Test split, as a table."""

from __future__ import annotations

import pandas as pd

from fruits_pipeline.pipelines.classification.nodes import classification_report
from fruits_pipeline.pipelines.reporting.nodes import write_summary


def summary_for(labels: list[str], predicted: list[str]) -> str:
    table = pd.DataFrame({"label": labels, "split": "Test", "pca_1": 0.0, "pca_2": 0.0})
    variance = pd.DataFrame({"component": [1, 2], "ratio": [0.6, 0.4], "cumulative": [0.6, 1.0]})
    metrics = classification_report(pd.Series(labels), pd.Series(predicted))
    return write_summary(
        table, variance, metrics, pd.DataFrame({"path": []}),
        {"input_path": "photos", "split": "folders"},
    )  # fmt: skip


def test_summary_lists_the_most_confused_pairs():
    summary = summary_for(["Kiwi", "Kiwi", "Kiwi", "Lemon"], ["Lemon", "Lemon", "Kiwi", "Lemon"])
    lines = summary.splitlines()
    start = lines.index("## Most confused pairs (Test split)")
    assert lines[start + 2 : start + 5] == [
        "| true class | predicted as | images | share of the true class |",
        "|---|---|---:|---:|",
        "| Kiwi | Lemon | 2 | 66.7% |",
    ]
    assert lines[start + 5] == ""


def test_summary_says_when_nothing_was_confused():
    summary = summary_for(["Kiwi", "Lemon"], ["Kiwi", "Lemon"])
    assert "No Test image misclassified." in summary
