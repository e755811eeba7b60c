"""The featurizer of a run: MobileNetV2 weights + settings, and the model workers rebuild.

``build_featurizer`` (a node) turns the ``featurizer_weights`` dataset and the
``featurization`` parameters into an ``artifacts.Featurizer``: what Spark broadcasts, what
the model bundle stores, and what prediction reads back, so photos are always featurized
by the very model a classifier was trained on.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
import time
import warnings
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fruits_pipeline.artifacts import KERAS_IMAGENET, Featurizer, WeightsFile, package_version
from fruits_pipeline.datasets.hadoop_fs import glob_escape
from fruits_pipeline.errors import UserError
from fruits_pipeline.native import import_tensorflow, quiet_native_stderr
from fruits_pipeline.params import FeaturizationParams

from .model import decode_image, preprocess

logger = logging.getLogger(__name__)


def keras_model(weights: WeightsFile, alpha: float, image_size: int):
    """MobileNetV2 without its classifier, global-average pooled: 1280-d features.

    Keras reads weights from a file: the bytes go to a temporary one, removed at once.
    """
    _tf, keras = import_tensorflow()

    def build(source):
        return keras.applications.MobileNetV2(
            weights=source, include_top=False, alpha=alpha,
            input_shape=(image_size, image_size, 3), pooling="avg",
        )  # fmt: skip

    if weights.content is None:
        return build(KERAS_IMAGENET)
    suffix = ".weights.h5" if weights.name.endswith(".weights.h5") else ".h5"
    with tempfile.TemporaryDirectory(prefix="fruits-weights-") as folder:
        local = os.path.join(folder, f"mobilenet_v2{suffix}")
        with open(local, "wb") as file:
            file.write(weights.content)
        try:
            return build(local)
        except ValueError as exc:
            raise UserError(
                f"featurization.weights: {weights.name} could not be loaded into MobileNetV2 "
                f"alpha={alpha} ({str(exc).splitlines()[0][:300]}). Check that the file is a "
                "no-top MobileNetV2 weights file and that featurization.alpha matches the "
                "width it was trained with."
            ) from None


def tflite_cache_path(
    weights: WeightsFile,
    alpha: float,
    image_size: int,
    cache_dir: str,
    backend: str = "tflite",
    calibration: str | None = None,
) -> str:
    """Where the TFLite conversion of these weights is cached: keyed by the weights' content
    hash, the backend and (int8) the calibration images' hash."""
    key = (weights.sha256 or KERAS_IMAGENET)[:16]
    tf_version = package_version("tensorflow", "tensorflow-cpu")
    name = f"mobilenet_v2_{alpha}_{image_size}_{key}_tf{tf_version}"
    if backend != "tflite":
        name += f"_{backend.removeprefix('tflite_')}"
    if calibration is not None:
        name += f"_cal{hashlib.sha256(calibration.encode()).hexdigest()[:12]}"
    return os.path.join(os.path.expanduser(cache_dir), f"{name}.tflite")


def _quantize(converter, tf, backend: str, calibration_images: np.ndarray | None) -> None:
    """Post-training quantization settings; the model keeps float32 input and output, so
    the same runner, preprocessing and features column serve every backend."""
    if backend == "tflite_fp16":  # float16 weights: half the size
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif backend == "tflite_int8":  # int8 weights and activations, ranges from real photos
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [preprocess(image[None])] for image in calibration_images
        )


def convert_to_tflite(
    weights: WeightsFile,
    alpha: float,
    image_size: int,
    cache_dir: str | None,
    backend: str = "tflite",
    calibration_images: np.ndarray | None = None,
    calibration: str | None = None,
) -> bytes:
    """The Keras model converted to a TFLite flatbuffer (``backend``: float32, or
    quantized), cached on disk per weights file, backend and calibration set.

    Conversion takes seconds (int8 calibration longer); the cache makes later runs start
    at once. It is written to a temporary name and renamed, so a concurrent run never
    reads half a file.
    """
    cached = (
        tflite_cache_path(weights, alpha, image_size, cache_dir, backend, calibration)
        if cache_dir
        else None
    )
    if cached and os.path.isfile(cached):
        with open(cached, "rb") as flatbuffer:
            return flatbuffer.read()
    tf, _keras = import_tensorflow()

    start = time.perf_counter()
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model(weights, alpha, image_size))
    _quantize(converter, tf, backend, calibration_images)
    # The converter prints every tensor spec, and the quantizer its settings on fd 2 and a
    # warning about input statistics it does not need (the input stays float32).
    with (
        contextlib.redirect_stdout(io.StringIO()),
        quiet_native_stderr(),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", "Statistics for quantized inputs", UserWarning)
        payload = converter.convert()
    logger.info(
        "converted MobileNetV2 to TFLite (%s) in %.1f s (%s)", backend, time.perf_counter() - start,
        "cached for the next runs" if cached else "cache off",
    )  # fmt: skip
    if cached:
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        partial = f"{cached}.{os.getpid()}.tmp"
        with open(partial, "wb") as flatbuffer:
            flatbuffer.write(payload)
        os.replace(partial, cached)
    return payload


def pick_calibration_images(
    labelled_images: DataFrame, config: FeaturizationParams
) -> tuple[np.ndarray, str]:
    """The int8 calibration set: ``calibration_images`` Training photos, decoded as
    featurization decodes them, and its identity (count + sha256 of their bytes).

    Picked by a seeded hash of class and file name (metadata only, the same set wherever
    the folder lives), then only those files are read.
    """
    name = F.coalesce("label", "family")
    training = labelled_images.where((F.col("split") == "Training") & name.isNotNull())
    file_name = F.element_at(F.split("path", "/"), -1)
    paths = [
        row.path
        for row in training.select("path", "label", "family")
        .orderBy(F.xxhash64(name, file_name, F.lit(config.calibration_seed)), "path")
        .limit(config.calibration_images)
        .collect()
    ]
    if not paths:
        raise UserError(
            "featurization.backend=tflite_int8 calibrates on Training images, and the input "
            "has none; use backend tflite (float32) or add a Training folder."
        )
    spark = labelled_images.sparkSession
    rows = (
        spark.read.format("binaryFile")
        .load([glob_escape(path) for path in paths])
        .select("path", "content")
        .collect()
    )
    digest = hashlib.sha256()
    images = []
    for row in sorted(rows, key=lambda r: hashlib.sha256(r.content).digest()):
        try:
            image = decode_image(row.content, config.image_size, config.resize_filter)
        except Exception:  # rejected later by featurization, with its reason
            continue
        digest.update(hashlib.sha256(row.content).digest())
        images.append(image)
    if not images:
        raise UserError(
            f"featurization.backend=tflite_int8: none of the {len(rows)} calibration images "
            "could be decoded; see rejected_images.csv after a tflite run."
        )
    return np.stack(images), f"{len(images)} Training images, sha256 {digest.hexdigest()[:16]}"


def build_featurizer(
    featurizer_weights: WeightsFile,
    params: dict[str, Any],
    labelled_images: DataFrame | None = None,
) -> Featurizer:
    """Node: the featurizer of this run, from the weights dataset and ``featurization``.

    keras: the weight arrays; tflite*: the flatbuffer converted here, once, from the same
    Keras model, so every worker (and every later prediction) runs the identical model.
    tflite_int8 is calibrated on a few of ``labelled_images``' Training photos (only
    those files are read; the other backends read none).
    """
    config = FeaturizationParams.model_validate(params)
    featurizer_weights.check()
    calibration = None
    if config.backend == "keras":
        payload: Any = keras_model(featurizer_weights, config.alpha, config.image_size)
        payload = payload.get_weights()
    else:
        images = None
        if config.backend == "tflite_int8":
            if labelled_images is None:
                raise ValueError("tflite_int8 needs labelled_images to calibrate on")
            images, calibration = pick_calibration_images(labelled_images, config)
        payload = convert_to_tflite(
            featurizer_weights, config.alpha, config.image_size, config.model_cache_dir,
            config.backend, images, calibration,
        )  # fmt: skip
    featurizer = Featurizer(
        backend=config.backend,
        alpha=config.alpha,
        image_size=config.image_size,
        resize_filter=config.resize_filter,
        weights_name=featurizer_weights.name,
        weights_sha256=featurizer_weights.sha256,
        payload=payload,
        calibration=calibration,
    )
    logger.info(
        "featurizer %s (MobileNetV2 %s %dpx %s)", featurizer.fingerprint, featurizer.alpha,
        featurizer.image_size, featurizer.backend,
    )  # fmt: skip
    return featurizer
