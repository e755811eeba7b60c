"""The app export's pieces: the fused Dense layer and the all-or-nothing folder."""

from __future__ import annotations

import numpy as np
import pytest

from fruits_pipeline.artifacts import LinearHead
from fruits_pipeline.datasets import FilesFolderDataset
from fruits_pipeline.pipelines.app_export.nodes import fused_dense


def test_fused_dense_gives_the_heads_logits():
    rng = np.random.default_rng(0)
    features, k, classes = 12, 4, 3
    coefficients, intercepts = rng.normal(size=(classes, k)), rng.normal(size=classes)
    head = LinearHead(
        mean=rng.normal(size=features), scale=rng.uniform(0.5, 2, features),
        pca=rng.normal(size=(features, k)), component_std=np.ones(k),
        heads={"class": (("a", "b", "c"), coefficients, intercepts)}, class_families={},
    )  # fmt: skip
    x = rng.normal(size=(5, features))
    weights, bias = fused_dense(head)
    expected = head.components(x) @ coefficients.T + intercepts  # step by step
    np.testing.assert_allclose(x @ weights + bias, expected, rtol=1e-4, atol=1e-4)


def test_folder_is_replaced_whole_and_an_empty_save_keeps_it(tmp_path):
    dataset = FilesFolderDataset(path=str(tmp_path / "app_model"))
    dataset.save({"model.tflite": b"old", "labels.txt": b"a\n"})
    dataset.save({"model.tflite": b"new"})
    assert dataset.load() == {"model.tflite": b"new"}  # no file of the old save left
    dataset.save({})
    assert dataset.load() == {"model.tflite": b"new"}
    assert len(list(tmp_path.iterdir())) == 2  # the link and one folder: the old one is gone


def test_a_failed_save_leaves_the_old_folder(tmp_path):
    dataset = FilesFolderDataset(path=str(tmp_path / "app_model"))
    dataset.save({"model.tflite": b"old"})
    with pytest.raises(OSError):
        dataset.save({"model.tflite": b"new", "no/such/dir.txt": b""})
    assert dataset.load() == {"model.tflite": b"old"}
    assert len(list(tmp_path.iterdir())) == 2


def test_object_storage_is_skipped_with_a_reason(caplog):
    dataset = FilesFolderDataset(path="s3://bucket/data/07_model_output/app_model")
    dataset.save({"model.tflite": b"x"})
    assert "local disk only" in caplog.text
