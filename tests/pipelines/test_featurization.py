"""Featurization on real images against a direct Keras computation outside Spark."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from keras.applications.mobilenet_v2 import MobileNetV2, preprocess_input

from fruits_pipeline.artifacts import Featurizer, WeightsFile
from fruits_pipeline.datasets import WeightsFileDataset
from fruits_pipeline.engine.predictor import Predictor
from fruits_pipeline.pipelines.featurization import featurizer as featurizer_module
from fruits_pipeline.pipelines.featurization.featurizer import (
    build_featurizer,
    convert_to_tflite,
    tflite_cache_path,
)
from fruits_pipeline.pipelines.featurization.model import FEATURE_DIM, decode_image, preprocess
from fruits_pipeline.pipelines.featurization.nodes import (
    featurize_images,
    featurize_partitions,
    select_images_to_featurize,
)
from fruits_pipeline.pipelines.reporting.nodes import plot_pca_scatter
from tests.conftest import (
    WEIGHTS as WEIGHTS_FILE,
)
from tests.conftest import (
    featurize,
    featurize_folder,
    load_images,
    make_featurizer,
    sample_files,
    user_error,
)


@pytest.fixture(scope="module")
def keras_reference(weights_path):
    """Features computed the plain Keras way: load_img -> preprocess_input -> predict."""
    model = MobileNetV2(
        weights=weights_path, include_top=False, alpha=1.0, input_shape=(224, 224, 3),
        pooling="avg",
    )  # fmt: skip

    def features(paths: list[Path]) -> np.ndarray:
        images = np.stack(
            [
                keras.utils.img_to_array(
                    keras.utils.load_img(p, target_size=(224, 224), interpolation="bilinear")
                )
                for p in paths
            ]
        )
        return model.predict(preprocess_input(images), verbose=0)

    return features


@pytest.fixture(scope="module", params=["keras", "tflite"])
def featurized(request, spark, small_sample, weights_path):
    params = {"weights": weights_path, "backend": request.param, "batch_size": 4}
    features, rejected = featurize_folder(small_sample, params)
    return request.param, features.collect(), rejected


def test_features_match_direct_keras(featurized, small_sample, keras_reference):
    _backend, rows, rejected = featurized
    files = sorted(small_sample.rglob("*.jpg"))
    assert len(rows) == len(files) and rejected.empty
    by_path = {Path(r.path.removeprefix("file:")): r for r in rows}
    assert sorted(by_path) == files

    got = np.array([by_path[p].features for p in files], dtype=np.float32)
    assert got.shape == (len(files), FEATURE_DIM)
    assert np.isfinite(got).all()
    # Real weights: features differ between images (random weights give near-constant ones).
    assert got.std(axis=0).mean() > 0.05
    expected = keras_reference(files)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    for path in files:
        assert (by_path[path].label, by_path[path].split) == (
            path.parent.name, path.parent.parent.name
        )  # fmt: skip


def test_undecodable_files_are_rejected_not_fatal(spark, small_sample, weights_path, tmp_path):
    good = sorted(small_sample.rglob("*.jpg"))[0]
    folder = tmp_path / "Training" / "Kiwi"
    folder.mkdir(parents=True)
    (folder / "good.jpg").write_bytes(good.read_bytes())
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not a JPEG")
    (folder / "truncated.jpg").write_bytes(good.read_bytes()[:200])
    (tmp_path / "loose.jpg").write_bytes(good.read_bytes())  # no class folder: no label

    features, rejected = featurize_folder(tmp_path, {"weights": weights_path, "backend": "tflite"})

    assert [Path(r.path).name for r in features.collect()] == ["good.jpg"]
    reasons = dict(
        zip(rejected["path"].map(lambda p: Path(p).name), rejected["reason"], strict=True)
    )
    assert sorted(reasons) == ["empty.jpg", "loose.jpg", "text.jpg", "truncated.jpg"]
    assert all(reason for reason in reasons.values())
    assert reasons["loose.jpg"].startswith("not inside a class folder")


def test_decode_image_resizes_to_rgb(small_sample):
    image = decode_image(sorted(small_sample.rglob("*.jpg"))[0].read_bytes(), 224)
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8


def test_partitions_keep_every_core_busy():
    assert featurize_partitions(10, parallelism=8, images_per_partition=256) == 8
    assert featurize_partitions(90_000, parallelism=2, images_per_partition=256) == 352
    # 5,195 images in tasks of 512: 11 tasks would leave one core idle for the last.
    assert featurize_partitions(5_195, parallelism=2, images_per_partition=512) == 12


def test_preprocess_equals_keras_preprocess_input(small_sample):
    images = np.stack(
        [decode_image(p.read_bytes(), 224) for p in sorted(small_sample.rglob("*.jpg"))]
    )
    np.testing.assert_array_equal(preprocess(images), preprocess_input(images.astype(np.float32)))


def test_tflite_conversion_is_cached_per_weights_file(weights_path, tmp_path, monkeypatch):
    weights = WeightsFile(Path(weights_path).name, Path(weights_path).read_bytes())
    converted = convert_to_tflite(weights, 1.0, 224, str(tmp_path))
    cached = tflite_cache_path(weights, 1.0, 224, str(tmp_path))
    assert Path(cached).read_bytes() == converted

    # A hit reads the file: the converter (Keras model build) is not called again.
    def no_conversion(*args):
        raise AssertionError("converted again despite the cache")

    monkeypatch.setattr(featurizer_module, "keras_model", no_conversion)
    assert convert_to_tflite(weights, 1.0, 224, str(tmp_path)) == converted
    assert tflite_cache_path(weights, 0.5, 224, str(tmp_path)) != cached
    other = WeightsFile("other.weights.h5", weights.content + b"\0")
    assert tflite_cache_path(other, 1.0, 224, str(tmp_path)) != cached


def test_fingerprint_names_what_changes_the_features(weights_path, tflite_featurizer):
    """Same weights and settings -> same fingerprint; backend, size, weights change it."""
    assert make_featurizer(weights_path, backend="tflite").fingerprint == (
        tflite_featurizer.fingerprint
    )
    keras = make_featurizer(weights_path, backend="keras")
    assert keras.fingerprint != tflite_featurizer.fingerprint
    assert keras.weights_sha256 == tflite_featurizer.weights_sha256
    smaller = make_featurizer(weights_path, backend="tflite", image_size=160)
    assert smaller.fingerprint != tflite_featurizer.fingerprint
    assert tflite_featurizer.settings()["weights_sha256"] == (
        "6714965a05ee6d8568343664bb9cda7456c6eb1fa190a6f5eb39bf087068b100"
    )  # ../shared/weights/SOURCE.md


def test_alpha_that_does_not_match_the_weights_is_a_clear_error(weights_path):
    """The shared file holds alpha 1.0 weights: alpha 0.5 must fail and say why."""
    message = user_error(make_featurizer, weights_path, alpha=0.5)
    assert "featurization.alpha" in message and Path(weights_path).name in message


def test_weights_that_are_not_hdf5_are_named(tmp_path):
    fake = tmp_path / "weights.h5"
    fake.write_text("not weights")
    assert "is not an HDF5 file" in user_error(make_featurizer, str(fake))
    assert "does not exist" in user_error(make_featurizer, str(tmp_path / "missing.h5"))


def local_bytes_read(spark) -> int:
    """Bytes read from local files through Hadoop's FileSystem so far, in this JVM (local
    mode: the executors' scans too). Cached and checkpointed blocks are not file reads."""
    statistics = (
        spark.sparkContext._jvm.org.apache.hadoop.fs.FileSystem.getGlobalStorageStatistics()
    )
    return int(statistics.get("file").getLong("bytesRead"))


def test_incremental_reads_only_the_bytes_of_new_files(spark, tmp_path, tflite_featurizer):
    folder = tmp_path / "photos"
    for source in sample_files("Training", "Kiwi")[:4]:
        (folder / "Kiwi").mkdir(parents=True, exist_ok=True)
        shutil.copy(source, folder / "Kiwi" / source.name)
    stored, _ = featurize(load_images(folder), tflite_featurizer)
    stored = stored.localCheckpoint()
    new = sample_files("Training", "Lemon")[0]
    (folder / "Lemon").mkdir()
    shutil.copy(new, folder / "Lemon" / new.name)

    images = load_images(folder)
    to_featurize, files, reused = select_images_to_featurize(
        images, stored, tflite_featurizer, incremental=True
    )
    before = local_bytes_read(spark)
    features, rejected = featurize_images(to_featurize, files, tflite_featurizer, {})
    assert local_bytes_read(spark) - before == new.stat().st_size  # the new file, nothing else
    assert [Path(p).name for p in files] == [new.name] and rejected.empty
    assert reused.count() == 4 and [r.label for r in features.collect()] == ["Lemon"]

    # Another featurizer: nothing is reused.
    other = make_featurizer(str(WEIGHTS_FILE), backend="keras")
    _, files, reused = select_images_to_featurize(images, stored, other, incremental=True)
    assert len(files) == 5 and reused.count() == 0


def test_the_temporary_copy_of_the_weights_is_removed(weights_path):
    leftovers = lambda: set(Path(tempfile.gettempdir()).glob("fruits-weights-*"))  # noqa: E731
    before = leftovers()
    make_featurizer(weights_path, backend="keras")  # Keras reads weights from a file
    assert leftovers() == before


def test_pca_scatter_with_one_component_is_a_strip_per_class(spark):
    table = pd.DataFrame(
        {
            "path": ["1", "2", "3"],
            "label": ["a", "a", "b"],
            "split": "Training",
            "pca_1": [1.0, 2, 3],
        }
    )
    figure = plot_pca_scatter(spark.createDataFrame(table))
    (ax,) = figure.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert "k = 1" in ax.get_title()


def test_pca_scatter_names_every_class_at_its_centroid(spark):
    classes = [f"class {i}" for i in range(33)]  # more than any colour map has colours
    table = pd.DataFrame(
        {
            "path": [f"{i}" for i in range(66)],
            "label": [c for c in classes for _ in range(2)],
            "split": "Training",
            "pca_1": [float(i) + d for i in range(33) for d in (0.0, 1.0)],
            "pca_2": [2.0 * i for i in range(33) for _ in range(2)],
        }
    )
    (ax,) = plot_pca_scatter(spark.createDataFrame(table)).axes
    names = {t.get_text(): t.xy for t in ax.texts}
    assert set(names) == set(classes)
    assert names["class 7"] == pytest.approx((7.5, 14.0))  # the mean of its two images
    assert ax.get_legend() is None


@pytest.fixture(scope="module")
def quantized(spark, small_sample, weights_path):
    """fp16 and int8 featurizers built by the node (int8 calibrated on the sample's 6
    Training images) and their features of every small_sample image, through Spark."""
    images = load_images(small_sample)
    weights = WeightsFileDataset(filepath=weights_path).load()
    result = {}
    for backend in ("tflite_fp16", "tflite_int8"):
        featurizer = build_featurizer(
            weights, {"backend": backend, "calibration_images": 6}, images
        )
        features, rejected = featurize(images, featurizer, batch_size=1)
        assert rejected.empty
        rows = {Path(r.path.removeprefix("file:")): r.features for r in features.collect()}
        result[backend] = featurizer, rows
    return result


# Measured on the sample's Test images: fp16 min 0.999; int8 (128 calibration images) mean
# 0.955, min 0.92; the bounds below leave room for the 6-image calibration of this test.
COSINE_BOUNDS = {"tflite_fp16": 0.998, "tflite_int8": 0.85}


@pytest.mark.parametrize("backend", ["tflite_fp16", "tflite_int8"])
def test_quantized_features_stay_close_to_float32(
    quantized, backend, small_sample, keras_reference
):
    featurizer, rows = quantized[backend]
    files = sorted(small_sample.rglob("*.jpg"))
    assert sorted(rows) == files
    got = np.array([rows[p] for p in files], dtype=np.float64)
    expected = keras_reference(files).astype(np.float64)
    cosine = (got * expected).sum(axis=1) / (
        np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1)
    )
    assert cosine.min() >= COSINE_BOUNDS[backend], cosine
    # Quantized, not float32 again: the features differ and the model is smaller.
    assert np.abs(got - expected).max() > 1e-3
    float32 = convert_to_tflite(
        WeightsFile(Path(WEIGHTS_FILE).name, Path(WEIGHTS_FILE).read_bytes()), 1.0, 224,
        "~/.cache/fruits_pipeline",
    )  # fmt: skip
    assert len(featurizer.payload) < 0.6 * len(float32)


def test_quantized_featurizer_fingerprint_and_calibration(
    quantized, tflite_featurizer, weights_path, small_sample, spark
):
    fp16, _ = quantized["tflite_fp16"]
    int8, _ = quantized["tflite_int8"]
    fingerprints = {tflite_featurizer.fingerprint, fp16.fingerprint, int8.fingerprint}
    assert len(fingerprints) == 3
    assert fp16.calibration is None and tflite_featurizer.calibration is None
    assert int8.calibration.startswith("6 Training images, sha256 ")
    assert "calibrated on 6 Training images" in int8.describe()
    # Another calibration set is another model: another fingerprint and cache file.
    other = build_featurizer(
        WeightsFileDataset(filepath=weights_path).load(),
        {"backend": "tflite_int8", "calibration_images": 3},
        load_images(small_sample),
    )
    assert other.calibration.startswith("3 Training images") and other.fingerprint not in (
        fingerprints
    )
    weights = WeightsFile(Path(weights_path).name, Path(weights_path).read_bytes())
    paths = {
        tflite_cache_path(weights, 1.0, 224, "/c", "tflite"),
        tflite_cache_path(weights, 1.0, 224, "/c", "tflite_fp16"),
        tflite_cache_path(weights, 1.0, 224, "/c", "tflite_int8", int8.calibration),
        tflite_cache_path(weights, 1.0, 224, "/c", "tflite_int8", other.calibration),
    }
    assert len(paths) == 4


def test_a_stored_quantized_featurizer_serves_the_spark_free_engine(quantized, small_sample):
    """featurizer.json + featurizer.tflite (the bundle's files) -> engine.Predictor gives
    the features the Spark workers computed."""
    featurizer, rows = quantized["tflite_int8"]
    restored = Featurizer.from_stored(
        json.dumps(featurizer.settings()).encode(), lambda name: featurizer.payload
    )
    assert restored.fingerprint == featurizer.fingerprint
    assert restored.calibration == featurizer.calibration
    predictor = Predictor(restored, head=None, manifest={})
    files = sorted(small_sample.rglob("*.jpg"))[:3]
    images = np.stack([decode_image(p.read_bytes(), 224) for p in files])
    np.testing.assert_allclose(
        predictor.features(images), np.array([rows[p] for p in files]), atol=1e-6, rtol=0
    )
