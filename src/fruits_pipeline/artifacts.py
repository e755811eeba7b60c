"""The artifacts a run makes and prediction reads: weights, featurizer, model bundle.

Plain data, no Spark work: the datasets store them (``datasets.ModelBundleDataset``), the
pipelines build them, and the prediction path reads them.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

from fruits_pipeline.errors import UserError

KERAS_IMAGENET = "imagenet"  # Keras' own ImageNet download, where the network allows it
# What ``model.preprocess`` does to a decoded image (part of the fingerprint).
PREPROCESSING = "RGB uint8 -> x / 127.5 - 1 (MobileNetV2 'tf' mode), global average pooling"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class WeightsFile:
    """A MobileNetV2 no-top weights file (``content`` None: Keras' ImageNet download)."""

    name: str
    content: bytes | None

    @cached_property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.content).hexdigest() if self.content is not None else None

    def check(self) -> None:
        if self.content is not None and not self.content.startswith(HDF5_SIGNATURE):
            raise UserError(
                f"featurization.weights: {self.name} is not an HDF5 file (first bytes "
                f"{self.content[:8]!r}); expected a Keras MobileNetV2 no-top weights file "
                "(.h5 / .weights.h5). Point --params featurization.weights= at one."
            )


@dataclass(frozen=True)
class Featurizer:
    """Everything a worker needs to featurize exactly as training did."""

    backend: str
    alpha: float
    image_size: int
    resize_filter: str
    weights_name: str
    weights_sha256: str | None
    # tflite: the converted flatbuffer; keras: the list of weight arrays.
    payload: Any = field(repr=False, compare=False)
    preprocessing: str = PREPROCESSING

    def settings(self) -> dict[str, Any]:
        """The featurizer without its payload (the bundle's featurizer.json)."""
        return {**self._identity(), "fingerprint": self.fingerprint}

    def _identity(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "payload"}

    @cached_property
    def fingerprint(self) -> str:
        """Short hash of what changes the features: weights, alpha, size, backend, preprocessing."""
        identity = self._identity()
        if self.weights_sha256 is None:  # Keras download: its version names the file
            identity["keras"] = package_version("keras")
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode())
        return digest.hexdigest()[:16]

    def describe(self) -> str:
        return (
            f"MobileNetV2 alpha={self.alpha} {self.image_size}px, backend={self.backend}, "
            f"weights {self.weights_name} (sha256 {str(self.weights_sha256)[:12]}), "
            f"fingerprint {self.fingerprint}"
        )


def package_version(*names: str) -> str:
    """A package's version without importing it (``import tensorflow`` takes seconds)."""
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(name)
    return "unknown"


@dataclass
class ModelBundle:
    """One run's featurizer, scaler + PCA, classifier, summary and reports, bound together.

    Like kedro-mlflow's ``pipeline_ml_factory``, training and inference are bound into one
    artifact: prediction (the CLI and the pipeline) reads a bundle and nothing else, so it
    cannot pair a PCA with another run's classifier, or featurize with other settings than
    the classifier was trained on. ``datasets.ModelBundleDataset`` stores it, written last
    and loadable only once complete.
    """

    featurizer: Featurizer
    reduction: Any  # pyspark.ml.PipelineModel: scaler, PCA
    classifier: Any  # pyspark.ml.PipelineModel, or None when classification was skipped
    manifest: dict[str, Any]
    reports: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> str | None:
        return self.manifest.get("version")

    @property
    def k(self) -> int:
        return int(self.reduction.stages[-1].getK())
