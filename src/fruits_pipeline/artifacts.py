"""The artifacts a run makes and prediction reads: weights, featurizer, model bundle.

Plain data, no Spark work: the datasets store them (``datasets.ModelBundleDataset``), the
pipelines build them, and the prediction path reads them.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np

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
    # tflite*: the converted flatbuffer; keras: the list of weight arrays.
    payload: Any = field(repr=False, compare=False)
    preprocessing: str = PREPROCESSING
    # tflite_int8: the images its int8 ranges were calibrated on (count + sha256 of their
    # bytes); None for the other backends.
    calibration: str | None = None

    def settings(self) -> dict[str, Any]:
        """The featurizer without its payload (the bundle's featurizer.json)."""
        return {**self._identity(), "fingerprint": self.fingerprint}

    def _identity(self) -> dict[str, Any]:
        # Omitted when None, so float featurizers keep the fingerprints stored before it.
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "payload" and not (f.name == "calibration" and self.calibration is None)
        }

    @cached_property
    def fingerprint(self) -> str:
        """Short hash of what changes the features: weights, alpha, size, backend,
        preprocessing and (int8) the calibration images."""
        identity = self._identity()
        if self.weights_sha256 is None:  # Keras download: its version names the file
            identity["keras"] = package_version("keras")
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode())
        return digest.hexdigest()[:16]

    @classmethod
    def from_stored(cls, settings_json: bytes, read) -> Featurizer:
        """The featurizer a bundle stored: ``featurizer.json`` + ``read(name)`` of its model
        file; ValueError when the stored fingerprint does not match what was read."""
        settings = json.loads(settings_json)
        fingerprint = settings.pop("fingerprint")
        if settings["backend"] == "keras":
            with np.load(io.BytesIO(read("featurizer_keras.npz"))) as arrays:
                payload: Any = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
        else:
            payload = read("featurizer.tflite")
        featurizer = cls(**settings, payload=payload)
        if featurizer.fingerprint != fingerprint:
            raise ValueError(f"featurizer fingerprint {featurizer.fingerprint} != {fingerprint}")
        return featurizer

    def describe(self) -> str:
        return (
            f"MobileNetV2 alpha={self.alpha} {self.image_size}px, backend={self.backend}, "
            f"weights {self.weights_name} (sha256 {str(self.weights_sha256)[:12]}), "
            + (f"calibrated on {self.calibration}, " if self.calibration else "")
            + f"fingerprint {self.fingerprint}"
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
    head: LinearHead | None = None  # the same scaler, PCA and classifiers as numpy

    @property
    def version(self) -> str | None:
        return self.manifest.get("version")

    @property
    def k(self) -> int:
        return int(self.reduction.stages[-1].getK())


@dataclass(frozen=True)
class LinearHead:
    """Scaler, PCA and classifiers of a bundle as numpy arrays: what runs on top of the
    featurizer, without Spark.

    Every step is linear up to the softmax: ``components = (features - mean) * scale @
    pca``; ``logits = components @ coefficients.T + intercepts`` per head. The Spark-free
    predictor (``engine``) and the on-device export use these arrays; the Spark
    ``PipelineModel``s they come from stay in the bundle for the Spark prediction path.
    ``component_std`` and ``residual_variance`` (Training rows) make the "unlike the
    training images" distance; ``unknown`` holds the calibrated thresholds (``engine``).
    """

    mean: np.ndarray  # (features,)
    scale: np.ndarray  # (features,) 1/std, or ones when the scaler only centres
    pca: np.ndarray  # (features, k)
    component_std: np.ndarray  # (k,)
    # head name ("class", "family") -> (labels, coefficients (classes, k), intercepts)
    heads: dict[str, tuple[tuple[str, ...], np.ndarray, np.ndarray]]
    class_families: dict[str, str]  # class label -> family (conf/base/parameters_families.yml)
    unknown: dict[str, Any] = field(default_factory=dict)
    # Mean Training variance per feature direction the PCA leaves out (0: not measured).
    residual_variance: float = 0.0

    FILES = ("head.npz", "head.json")  # in the bundle folder

    def components(self, features: np.ndarray) -> np.ndarray:
        """(n, features) -> (n, k) PCA components, as Spark's scaler + PCA compute them."""
        return ((np.asarray(features, np.float64) - self.mean) * self.scale) @ self.pca

    def probabilities(self, components: np.ndarray, head: str = "class") -> np.ndarray:
        """(n, k) components -> (n, classes) softmax probabilities of one head."""
        _labels, coefficients, intercepts = self.heads[head]
        logits = components @ coefficients.T + intercepts
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def distance(self, features: np.ndarray, components: np.ndarray | None = None) -> np.ndarray:
        """(n, features) -> (n,) Mahalanobis distance to the Training images' mean, as
        probabilistic PCA models them: the components whitened by their Training std (they
        are uncorrelated there), plus what the PCA leaves out, at ``residual_variance`` per
        direction. Photos unlike Fruits-360 land far on one or the other."""
        scaled = (np.asarray(features, np.float64) - self.mean) * self.scale
        if components is None:
            components = scaled @ self.pca
        whitened = components / np.where(self.component_std > 0, self.component_std, 1.0)
        squared = (whitened**2).sum(axis=1)
        if self.residual_variance > 0:
            residual = scaled - components @ self.pca.T
            squared += (residual**2).sum(axis=1) / self.residual_variance
        return np.sqrt(squared)

    def labels(self, head: str = "class") -> tuple[str, ...]:
        return self.heads[head][0]

    def family_probabilities(self, components: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
        """Family labels and probabilities: the family head's, or the class head's summed
        per family when no family head was trained."""
        if "family" in self.heads:
            return self.labels("family"), self.probabilities(components, "family")
        classes = self.labels("class")
        families = tuple(sorted({self.class_families.get(c, c) for c in classes}))
        index = {family: i for i, family in enumerate(families)}
        onehot = np.zeros((len(classes), len(families)))
        for i, name in enumerate(classes):
            onehot[i, index[self.class_families.get(name, name)]] = 1.0
        return families, self.probabilities(components, "class") @ onehot

    def to_files(self) -> dict[str, bytes]:
        """``head.npz`` (arrays) + ``head.json`` (labels, families, thresholds)."""
        arrays = {"mean": self.mean, "scale": self.scale, "pca": self.pca}
        arrays["component_std"] = self.component_std
        for name, (_labels, coefficients, intercepts) in self.heads.items():
            arrays[f"{name}_coefficients"] = coefficients
            arrays[f"{name}_intercepts"] = intercepts
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        described = {
            "heads": {name: list(labels) for name, (labels, _c, _i) in self.heads.items()},
            "class_families": self.class_families,
            "unknown": self.unknown,
            "residual_variance": self.residual_variance,
        }
        return {
            "head.npz": buffer.getvalue(),
            "head.json": json.dumps(described, indent=2, sort_keys=True).encode(),
        }

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> LinearHead:
        described = json.loads(files["head.json"])
        with np.load(io.BytesIO(files["head.npz"])) as arrays:
            heads = {
                name: (
                    tuple(labels),
                    arrays[f"{name}_coefficients"],
                    arrays[f"{name}_intercepts"],
                )
                for name, labels in described["heads"].items()
            }
            return cls(
                mean=arrays["mean"],
                scale=arrays["scale"],
                pca=arrays["pca"],
                component_std=arrays["component_std"],
                heads=heads,
                class_families=described["class_families"],
                unknown=described["unknown"],
                residual_variance=described.get("residual_variance", 0.0),
            )
