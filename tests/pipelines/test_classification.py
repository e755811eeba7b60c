"""Classifier on real PCA features: trained on Training, scored on Test, metrics checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fruits_pipeline.pipelines.classification.nodes import (
    SkippedClassifier,
    classification_report,
    evaluate_classifier,
    plot_confusion_matrix,
    train_classifier,
)
from fruits_pipeline.pipelines.reduction.nodes import fit_reduction, transform_features
from tests.conftest import copy_subset, featurize_folder

CLASSES = ["Apple Golden 1", "Cherry", "Kiwi", "Lemon", "Strawberry"]
PARAMS = {"max_iter": 200, "reg_param": 0.01, "elastic_net_param": 0.0}


@pytest.fixture(scope="module")
def pca_features(spark, tmp_path_factory, weights_path):
    folder = copy_subset(tmp_path_factory.mktemp("classify"), CLASSES, {"Training": 10, "Test": 5})
    features, _ = featurize_folder(folder, {"weights": weights_path})
    features = features.cache()
    model, _ = fit_reduction(features, {"k": 20})
    return transform_features(features, model).cache()


def test_classifier_recognises_test_photos(pca_features):
    classifier = train_classifier(pca_features, PARAMS)
    metrics, figure = evaluate_classifier(pca_features, classifier)

    assert metrics["n_test_images"] == 25
    assert sorted(metrics["per_class"]) == sorted(CLASSES)
    assert metrics["accuracy"] >= 0.9  # chance is 0.2
    predictions = classifier.transform(pca_features.where("split = 'Test'")).toPandas()
    assert metrics["accuracy"] == pytest.approx(
        (predictions["label"] == predictions["predicted_label"]).mean()
    )
    assert len(figure.axes) == 2  # the matrix and its colour bar

    # Spark's per-class report against numpy confusion counts of the same predictions.
    classes = sorted(CLASSES)
    counts = np.zeros((len(classes), len(classes)))
    for true, guess in zip(predictions["label"], predictions["predicted_label"], strict=True):
        counts[classes.index(true), classes.index(guess)] += 1
    hits = np.diag(counts)
    precision = hits / np.maximum(counts.sum(axis=0), 1)
    recall = hits / counts.sum(axis=1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
    for i, name in enumerate(classes):
        assert metrics["per_class"][name] == pytest.approx(
            {"precision": precision[i], "recall": recall[i], "f1": f1[i], "support": 5}
        )
    assert metrics["macro_f1"] == pytest.approx(f1.mean())


def report_of(spark, labels: list[str], predicted: list[str]) -> dict:
    rows = list(zip(labels, predicted, strict=True))
    return classification_report(spark.createDataFrame(rows, ["label", "predicted_label"]))


def test_report_matches_counts_by_hand(spark):
    labels = pd.Series(["a", "a", "a", "b", "b", "c"])
    predicted = pd.Series(["a", "a", "b", "b", "b", "a"])
    report = report_of(spark, list(labels), list(predicted))
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["per_class"]["a"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3}
    )
    assert report["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert report["per_class"]["b"]["recall"] == 1.0
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)

    # "d" is predicted but never true: it scores 0 and counts in the macro F1.
    report = report_of(spark, ["a", "a", "b"], ["a", "d", "b"])
    assert report["per_class"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["per_class"]["a"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    )
    assert report["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_classification_is_skipped_when_the_data_cannot_support_it(pca_features):
    one_class = pca_features.where("label = 'Kiwi'")
    skipped = train_classifier(one_class, PARAMS)
    assert isinstance(skipped, SkippedClassifier) and "1 class" in skipped.reason
    metrics, figure = evaluate_classifier(one_class, skipped)
    assert metrics == {"skipped": skipped.reason} and figure is not None

    # Every class but Cherry complete; Cherry with a single image: nothing to test it on.
    one_cherry = pca_features.where("label != 'Cherry'").unionByName(
        pca_features.where("label = 'Cherry'").limit(1)
    )
    assert "['Cherry']" in train_classifier(one_cherry, PARAMS).reason
    assert "Test split" in train_classifier(pca_features.where("split = 'Training'"), PARAMS).reason


def test_confused_pairs_counted_by_hand_most_frequent_first(spark):
    labels = ["a", "a", "a", "a", "b", "b", "c", "c"]
    predicted = ["b", "b", "c", "a", "b", "a", "a", "c"]
    pairs = report_of(spark, labels, predicted)["confused_pairs"]
    assert pairs == [
        {"true": "a", "predicted": "b", "count": 2, "share_of_true": 0.5},
        {"true": "a", "predicted": "c", "count": 1, "share_of_true": 0.25},
        {"true": "b", "predicted": "a", "count": 1, "share_of_true": 0.5},
        {"true": "c", "predicted": "a", "count": 1, "share_of_true": 0.5},
    ]
    assert report_of(spark, labels, labels)["confused_pairs"] == []


def test_confusion_matrix_rows_are_shares_of_the_true_class():
    labels = pd.Series(["a", "a", "a", "a", "b"])
    predicted = pd.Series(["a", "a", "a", "b", "b"])
    figure = plot_confusion_matrix(labels, predicted)
    matrix = figure.axes[0].images[0].get_array()
    assert matrix.tolist() == [[0.75, 0.25], [0.0, 1.0]]
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["a", "b"]
