"""The featurizer of a run: MobileNetV2 weights + settings, and the model workers rebuild.

``build_featurizer`` (a node) turns the ``featurizer_weights`` dataset and the
``featurization`` parameters into an ``artifacts.Featurizer``: what Spark broadcasts, what
the model bundle stores, and what prediction reads back, so photos are always featurized
by the very model a classifier was trained on.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import time
from typing import Any

from fruits_pipeline.artifacts import KERAS_IMAGENET, Featurizer, WeightsFile, package_version
from fruits_pipeline.errors import UserError
from fruits_pipeline.native import import_tensorflow
from fruits_pipeline.params import FeaturizationParams

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


def tflite_cache_path(weights: WeightsFile, alpha: float, image_size: int, cache_dir: str) -> str:
    """Where the TFLite conversion of these weights is cached (keyed by content hash)."""
    key = (weights.sha256 or KERAS_IMAGENET)[:16]
    tf_version = package_version("tensorflow", "tensorflow-cpu")
    name = f"mobilenet_v2_{alpha}_{image_size}_{key}_tf{tf_version}"
    return os.path.join(os.path.expanduser(cache_dir), f"{name}.tflite")


def convert_to_tflite(
    weights: WeightsFile, alpha: float, image_size: int, cache_dir: str | None
) -> bytes:
    """The Keras model converted to a TFLite flatbuffer, cached on disk per weights file.

    Conversion takes seconds; the cache makes later runs start at once. It is written to a
    temporary name and renamed, so a concurrent run never reads half a file.
    """
    cached = tflite_cache_path(weights, alpha, image_size, cache_dir) if cache_dir else None
    if cached and os.path.isfile(cached):
        with open(cached, "rb") as flatbuffer:
            return flatbuffer.read()
    tf, _keras = import_tensorflow()

    start = time.perf_counter()
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model(weights, alpha, image_size))
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints every tensor spec
        payload = converter.convert()
    logger.info(
        "converted MobileNetV2 to TFLite in %.1f s (%s)", time.perf_counter() - start,
        "cached for the next runs" if cached else "cache off",
    )  # fmt: skip
    if cached:
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        partial = f"{cached}.{os.getpid()}.tmp"
        with open(partial, "wb") as flatbuffer:
            flatbuffer.write(payload)
        os.replace(partial, cached)
    return payload


def build_featurizer(featurizer_weights: WeightsFile, params: dict[str, Any]) -> Featurizer:
    """Node: the featurizer of this run, from the weights dataset and ``featurization``.

    keras: the weight arrays; tflite: the flatbuffer converted here, once, from the same
    Keras model, so every worker (and every later prediction) runs the identical model.
    """
    config = FeaturizationParams.model_validate(params)
    featurizer_weights.check()
    if config.backend == "keras":
        payload: Any = keras_model(featurizer_weights, config.alpha, config.image_size)
        payload = payload.get_weights()
    else:
        payload = convert_to_tflite(
            featurizer_weights, config.alpha, config.image_size, config.model_cache_dir
        )
    featurizer = Featurizer(
        backend=config.backend,
        alpha=config.alpha,
        image_size=config.image_size,
        resize_filter=config.resize_filter,
        weights_name=featurizer_weights.name,
        weights_sha256=featurizer_weights.sha256,
        payload=payload,
    )
    logger.info(
        "featurizer %s (MobileNetV2 %s %dpx %s)", featurizer.fingerprint, featurizer.alpha,
        featurizer.image_size, featurizer.backend,
    )  # fmt: skip
    return featurizer
