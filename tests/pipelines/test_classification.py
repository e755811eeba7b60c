"""Classifier on real PCA features: trained on Training, scored on Test, metrics checked by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from fruits_pipeline.pipelines.classification.nodes import (
    classification_report,
    evaluate_classifier,
    train_classifier,
)
from fruits_pipeline.pipelines.featurization.nodes import featurize_images
from fruits_pipeline.pipelines.ingestion.nodes import label_images
from fruits_pipeline.pipelines.reduction.nodes import fit_reduction, transform_features
from tests.conftest import copy_subset, load_images

CLASSES = ["Apple Golden 1", "Cherry", "Kiwi", "Lemon", "Strawberry"]
PARAMS = {"max_iter": 200, "reg_param": 0.01, "elastic_net_param": 0.0}


@pytest.fixture(scope="module")
def pca_features(spark, tmp_path_factory, weights_path):
    folder = copy_subset(tmp_path_factory.mktemp("classify"), CLASSES, {"Training": 10, "Test": 5})
    features, _ = featurize_images(label_images(load_images(folder)), {"weights": weights_path})
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


def test_report_matches_counts_by_hand():
    labels = pd.Series(["a", "a", "a", "b", "b", "c"])
    predicted = pd.Series(["a", "a", "b", "b", "b", "a"])
    report = classification_report(labels, predicted)
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["per_class"]["a"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3}
    )
    assert report["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert report["per_class"]["b"]["recall"] == 1.0
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)


def test_missing_test_split_is_a_clear_error(pca_features):
    classifier = train_classifier(pca_features, PARAMS)
    with pytest.raises(ValueError, match="'Test' split"):
        evaluate_classifier(pca_features.where("split = 'Training'"), classifier)
