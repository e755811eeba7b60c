"""``Predictor``: a model bundle folder read without Spark, photos in, answers out.

The bundle's own featurizer (``featurizer.tflite``, the flatbuffer the Spark workers ran)
and its head (``head.npz``: scaler, PCA and classifiers as matrices) give the same
features, components and probabilities as the Spark prediction pipeline.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fruits_pipeline.artifacts import Featurizer, LinearHead
from fruits_pipeline.errors import UserError
from fruits_pipeline.pipelines.featurization.model import (
    RUNNERS,
    decode_image,
    preprocess,
    rejection_reason,
)

from .unknown import judge

SUCCESS = "_SUCCESS"
NOT_CALIBRATED = "this bundle has no calibrated unknown test"


@dataclass
class Answer:
    """One photo's answer; ``error`` set (and the rest empty) when it could not be read."""

    path: str
    label: str | None = None
    family: str | None = None
    probability: float | None = None
    top3: list[tuple[str, float]] = field(default_factory=list)
    unknown: bool | None = None  # None: the bundle cannot tell (no thresholds)
    reason: str | None = None
    error: str | None = None

    def to_json(self) -> dict:
        answer = asdict(self)
        answer["top3"] = [[label, p] for label, p in self.top3]
        if self.error is None:
            del answer["error"]
        return answer


def find_bundle(root: str | Path, version: str | None = None) -> Path:
    """The bundle folder ``root/<version>/model_bundle``: the newest complete one, or
    exactly ``version``. A missing, incomplete or unknown one is a UserError."""
    root = Path(root)
    complete = sorted(
        (p.parent for p in root.glob(f"*/model_bundle/{SUCCESS}")),
        key=lambda p: p.parent.name,
        reverse=True,
    )
    if version is None:
        if not complete:
            raise UserError(
                f"No trained model bundle under {root}: run `kedro run` (or `make run`) "
                "first, or pass --bundle <folder of model bundles>."
            )
        return complete[0]
    chosen = root / version / "model_bundle"
    if chosen not in complete:
        names = [p.parent.name for p in complete]
        raise UserError(
            f"--model-version {version!r}: no complete model bundle of that version under "
            f"{root}. Complete versions: {names or 'none'}; drop --model-version to use "
            "the newest."
        )
    return chosen


class Predictor:
    """Featurizer + head of one bundle; ``predict`` answers photos (paths or bytes)."""

    def __init__(self, featurizer: Featurizer, head: LinearHead, manifest: dict, threads: int = 1):
        self.featurizer = featurizer
        self.head = head
        self.manifest = manifest
        self._model = RUNNERS[featurizer.backend](featurizer, threads)
        size = featurizer.image_size
        self._model(preprocess(np.zeros((1, size, size, 3), np.uint8)))  # plan the graph

    @classmethod
    def from_bundle(cls, folder: str | Path, threads: int = 1) -> Predictor:
        folder = Path(folder)
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            featurizer = Featurizer.from_stored(
                (folder / "featurizer.json").read_bytes(), lambda name: (folder / name).read_bytes()
            )
            if not manifest["classes"]:
                raise UserError(
                    f"Model bundle {folder} has no classifier ({manifest.get('classifier')}); "
                    "train on a folder with at least 2 classes of 2 images, or pass "
                    "--model-version of another bundle."
                )
            head = LinearHead.from_files({n: (folder / n).read_bytes() for n in LinearHead.FILES})
        except (OSError, KeyError, ValueError) as error:
            raise UserError(
                f"The model bundle {folder} is corrupt or was written by an older version "
                f"({type(error).__name__}: {error}); rerun `kedro run`, or pass "
                "--model-version of another bundle."
            ) from None
        return cls(featurizer, head, manifest, threads)

    def features(self, images: np.ndarray) -> np.ndarray:
        """uint8 RGB (n, size, size, 3) -> (n, 1280) MobileNetV2 features, one at a time
        (batch 1, as the Spark workers run it)."""
        return np.concatenate([self._model(preprocess(image[None])) for image in images])

    def answer(self, path: str, features: np.ndarray) -> Answer:
        head = self.head
        components = head.components(features[None])
        probabilities = head.probabilities(components)[0]
        labels = head.labels()
        best = np.argsort(probabilities)[::-1][:3]
        families, family_probabilities = head.family_probabilities(components)
        family = families[int(np.argmax(family_probabilities[0]))]
        top = [(labels[i], float(probabilities[i])) for i in best]
        if not head.unknown:  # a bundle without calibrated thresholds cannot tell
            unknown, reason = None, NOT_CALIBRATED
        else:
            distance = head.distance(features[None], components)
            (reason,) = judge(distance, probabilities[best[:1]], head.unknown)
            unknown = reason is not None
        return Answer(
            path=path, label=top[0][0], family=family, probability=top[0][1], top3=top,
            unknown=unknown, reason=reason,
        )  # fmt: skip

    def predict(self, path: str, content: bytes | None = None) -> Answer:
        """One photo (its bytes, or read from ``path``) -> its Answer, or its error."""
        try:
            if content is None:
                content = Path(path).read_bytes()
            image = decode_image(content, self.featurizer.image_size, self.featurizer.resize_filter)
        except Exception as exc:  # any unreadable photo is one answer
            return Answer(path=path, error=rejection_reason(exc))
        return self.answer(path, self.features(image[None])[0])
