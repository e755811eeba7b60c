"""The on-device app model: one TFLite file MediaPipe's ImageClassifier loads as is.

``export_app_model`` fuses the bundle's featurizer (MobileNetV2, rebuilt in Keras from the
same weights file) with its head: scaler, PCA and class head are all linear, so they
collapse into one Dense layer, followed by the softmax. TFLite metadata (input image
spec, labels as an associated file) lets MediaPipe name the classes from the file alone.
"""

from __future__ import annotations

import contextlib
import io
import logging
import zipfile
from typing import Any

import flatbuffers
import numpy as np

from fruits_pipeline.artifacts import LinearHead, ModelBundle, WeightsFile
from fruits_pipeline.errors import UserError
from fruits_pipeline.native import import_tensorflow
from fruits_pipeline.pipelines.featurization.featurizer import keras_model

from . import metadata_schema_py_generated as meta

logger = logging.getLogger(__name__)

METADATA_NAME = "TFLITE_METADATA"  # the name MediaPipe and the TFLite support library read
LABELS_FILE = "labels.txt"
MODEL_FILE = "model.tflite"
MIN_PARSER_VERSION = "1.0.0"  # no metadata field newer than the first schema version is used


def fused_dense(head: LinearHead) -> tuple[np.ndarray, np.ndarray]:
    """Scaler, PCA and class head as one affine map on the 1280 features.

    ``logits = ((f - mean) * scale) @ pca @ coef.T + b`` = ``f @ W + b0`` with
    ``W = diag(scale) @ pca @ coef.T`` and ``b0 = (-mean * scale) @ pca @ coef.T + b``.
    """
    _labels, coefficients, intercepts = head.heads["class"]
    projection = head.pca @ coefficients.T  # (features, classes)
    weights = head.scale[:, None] * projection
    bias = (-head.mean * head.scale) @ projection + intercepts
    return weights.astype(np.float32), bias.astype(np.float32)


def fused_model(bundle: ModelBundle, weights: WeightsFile):
    """Keras model: uint8 RGB (n, size, size, 3) -> float32 class probabilities."""
    _tf, keras = import_tensorflow()

    featurizer = bundle.featurizer
    size = featurizer.image_size
    backbone = keras_model(weights, featurizer.alpha, size)
    image = keras.Input((size, size, 3), dtype="uint8", name="image")
    # MobileNetV2 'tf' mode, inside the model: the app feeds plain uint8 pixels.
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(image)
    classes = len(bundle.head.labels())
    dense = keras.layers.Dense(classes, name="fused_head")
    logits = dense(backbone(scaled))
    dense.set_weights(list(fused_dense(bundle.head)))
    probabilities = keras.layers.Softmax(name="probabilities")(logits)
    return keras.Model(image, probabilities, name="fruits_classifier")


def to_tflite(model) -> bytes:
    tf, _keras = import_tensorflow()

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints every tensor spec
        return converter.convert()


def metadata_buffer(bundle: ModelBundle) -> bytes:
    """The TFLite ModelMetadata flatbuffer: image input, labelled probabilities output."""
    image = meta.TensorMetadataT()
    image.name = "image"
    image.description = (
        f"RGB photo resized to {bundle.featurizer.image_size}x{bundle.featurizer.image_size}, "
        "uint8 0-255 (the model rescales to [-1, 1] itself)"
    )
    image.content = meta.ContentT()
    image.content.contentPropertiesType = meta.ContentProperties.ImageProperties
    image.content.contentProperties = meta.ImagePropertiesT()
    image.content.contentProperties.colorSpace = meta.ColorSpaceType.RGB
    normalization = meta.ProcessUnitT()
    normalization.optionsType = meta.ProcessUnitOptions.NormalizationOptions
    normalization.options = meta.NormalizationOptionsT()
    # The uint8 input goes in unchanged: mean 0, std 1 (the rescale is in the graph).
    normalization.options.mean, normalization.options.std = [0.0], [1.0]
    image.processUnits = [normalization]
    image.stats = meta.StatsT()
    image.stats.max, image.stats.min = [255.0], [0.0]

    labels = meta.AssociatedFileT()
    labels.name = LABELS_FILE
    labels.description = "Class names, line i = output index i."
    labels.type = meta.AssociatedFileType.TENSOR_AXIS_LABELS
    output = meta.TensorMetadataT()
    output.name = "probabilities"
    output.description = "Softmax probability of each class."
    output.content = meta.ContentT()
    output.content.contentPropertiesType = meta.ContentProperties.FeatureProperties
    output.content.contentProperties = meta.FeaturePropertiesT()
    output.stats = meta.StatsT()
    output.stats.max, output.stats.min = [1.0], [0.0]
    output.associatedFiles = [labels]

    subgraph = meta.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = [output]
    model = meta.ModelMetadataT()
    model.name = "fruits_pipeline fruit classifier"
    model.description = (
        "MobileNetV2 features + PCA + logistic regression, trained on Fruits-360 "
        f"(bundle {bundle.version})."
    )
    model.version = str(bundle.version)
    model.author = "fruits_pipeline"
    model.license = "See model_card.md (training data licences)."
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = MIN_PARSER_VERSION
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"M001")
    return bytes(builder.Output())


def with_metadata(flatbuffer: bytes, metadata: bytes, labels: str) -> bytes:
    """The model with ``metadata`` in its ``metadata`` list and ``labels.txt`` packed as
    a zip appended to the file, as the TFLite metadata writer packs associated files."""
    from ai_edge_litert import schema_py_generated as schema  # noqa: PLC0415

    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata, np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_NAME.encode()]
    model.metadata.append(entry)
    builder = flatbuffers.Builder(len(flatbuffer) + len(metadata) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    packed = io.BytesIO(bytes(builder.Output()))
    packed.seek(0, io.SEEK_END)
    with zipfile.ZipFile(packed, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(LABELS_FILE, labels)
    return packed.getvalue()


def model_card(bundle: ModelBundle, size_bytes: int) -> str:
    """What an app developer must know: data and licences, classes, metrics, limits."""
    manifest = bundle.manifest
    featurizer = bundle.featurizer
    families = bundle.head.class_families
    labels = bundle.head.labels()
    metrics = manifest.get("metrics", {})
    unknown = manifest.get("unknown") or {}
    class_lines = "\n".join(f"| {i} | {c} | {families.get(c, c)} |" for i, c in enumerate(labels))
    metric_lines = "\n".join(f"- {name}: {value}" for name, value in sorted(metrics.items()))
    nofruit = (
        f'\nThe bundle\'s "unknown" thresholds were calibrated on '
        f"{unknown.get('nofruit_calibration_photos')} no-fruit background photos; those "
        "thresholds are not part of this file (it always names a class)."
        if unknown.get("nofruit_calibration_photos")
        else ""
    )
    augmentation = manifest.get("augmentation") or {}
    composites = (
        f"- Training composites (`augmentation`): {augmentation['composites']} images, "
        f"{augmentation.get('per_class')} per class and kind, from the Training photos of "
        f"{', '.join(augmentation.get('sources', []))}: each fruit cut from its white "
        "background and pasted, rotated, scaled, light-jittered and sometimes blurred, with "
        "up to two more fruits of its class, onto generated scenes and onto "
        f"{augmentation.get('background_photos', 0)} background photos (the augmentation "
        "part of the background folder, never the photos that calibrate or check "
        '"unknown"). Training only; the Test figures below are on photos.'
        if augmentation.get("composites")
        else "- No training composites (augmentation off)."
    )
    main_training = manifest.get("input", {}).get("images", {}).get("Training", {})
    source_lines = "\n".join(  # the main input's counts are the manifest's "input" ones
        f"| {name} | {sum(source.get('Training', main_training).values())} | "
        f"{source.get('metrics', {}).get('test_images', '-')} | "
        f"{_share(source.get('metrics', {}).get('family_top1'))} | "
        f"{_share(source.get('metrics', {}).get('answered'))} |"
        for name, source in sorted(manifest.get("sources", {}).items())
    )
    return f"""# Model card: fruit classifier for apps (`{MODEL_FILE}`)

Bundle version `{bundle.version}` (project {manifest.get("project_version")}, git commit
`{manifest.get("git_commit")}`), classifier: {manifest.get("classifier")}.
File size: {size_bytes} bytes ({size_bytes / 2**20:.1f} MiB).

## Input and output
- Input `image`: uint8 RGB, shape [N, {featurizer.image_size}, {featurizer.image_size}, 3],
  values 0-255. Resize the photo to {featurizer.image_size}x{featurizer.image_size}
  ({featurizer.resize_filter} filter in training); the model rescales to [-1, 1] itself
  (metadata: mean 0, std 1).
- Output `probabilities`: float32 [N, {len(labels)}], softmax; index i is line i of
  `{LABELS_FILE}` (also packed in the model file, TFLite metadata `TENSOR_AXIS_LABELS`).
- Inside: MobileNetV2 alpha={featurizer.alpha} ({featurizer.weights_name}, sha256
  {featurizer.weights_sha256}), then scaler + PCA (k={manifest.get("k")}) + class head fused into
  one Dense layer, then softmax.

## Training data
- Fruits-360 by Horea Muresan and Mihai Oltean (Kaggle moltean/fruits); the 2017-2018
  releases are MIT licensed ((c) 2017-2018 Mihai Oltean, Horea Muresan), the current Kaggle
  release is CC BY-SA 4.0. Cite: H. Muresan, M. Oltean, "Fruit recognition from images using
  deep learning", Acta Univ. Sapientiae, Informatica 10(1), 26-42, 2018.
- Input folder: `{manifest.get("input", {}).get("input_path")}`.{nofruit}
{composites}
- Other sources (`manifest.json` "sources"; Training counts, and their Test photos through
  the bundle's engine: family top-1 and the share answered rather than "unknown"):

| source | Training photos | Test photos | family top-1 | answered |
|---|---|---|---|---|
{source_lines or "| (none) | | | | |"}

  `real_photos_train` (the default second source): 328 real photos of 8 families from seven
  public sources under public-domain, MIT or CC BY 4.0 licences (per file in its
  SOURCES.tsv; CC BY requires attribution). Most of its families come from one source each,
  so its own Test score measures that source's look as much as the fruit.
- Background photos (when used: the unknown calibration, and the composites' scenes):
  BSDS500 (Berkeley, free for non-commercial research and educational use only), DTD
  (Oxford VGG, "for research purposes" only) and Gapminder Dollar Street (CC BY 4.0,
  credits in its SOURCE.md). Two of the three are research/education-only: a model trained
  on composites over them inherits that; check before any commercial use.

## Classes and families
| index | class | family |
|---|---|---|
{class_lines}

## Metrics (bundle manifest, Fruits-360 Test images)
{metric_lines or "- none recorded"}

## Known limits
- Fruits-360 images are studio photos: one fruit, centred, on a white background. On 144
  real grocery-store photos of 12 families (README "The ladder", 2026-12-04, one run),
  `make run-full`'s recipe (photos + composites at weight 0.5 + real_photos_train) gets
  the family right 20% of the time (95% interval 14-27%) and in its top 3 53% (45-61%),
  against 8% and 19% without composites. Those are the engine's family-head figures;
  this file holds the class head only, and its class probabilities summed per family
  score 22% top-1 (16-30%) and 51% top-3 (43-59%) on the same photos (`make eval-real`).
  Do not expect the Test accuracy above on photos from a phone camera.
- The model always names one of the {len(labels)} classes; it has no "unknown" answer.
"""


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def export_app_model(bundle: ModelBundle, featurizer_weights: WeightsFile) -> dict[str, Any]:
    """``model.tflite`` + ``labels.txt`` + ``model_card.md`` of the published bundle.

    A bundle without a head (one class, classification skipped) has nothing to classify
    with: the export is skipped with a log line and an empty folder content (no files).
    """
    if bundle.head is None:
        logger.warning(
            "app model not exported: bundle %s has no classifier (one class); train on at "
            "least 2 classes to get %s",
            bundle.version, MODEL_FILE,
        )  # fmt: skip
        return {}
    expected = bundle.featurizer.weights_sha256
    if featurizer_weights.sha256 != expected:
        raise UserError(
            f"featurization.weights: {featurizer_weights.name} (sha256 "
            f"{str(featurizer_weights.sha256)[:12]}) is not the file bundle {bundle.version} "
            f"was featurized with ({bundle.featurizer.weights_name}, sha256 "
            f"{str(expected)[:12]}); point --params featurization.weights= at that file."
        )
    labels = "".join(f"{label}\n" for label in bundle.head.labels())
    flatbuffer = to_tflite(fused_model(bundle, featurizer_weights))
    model = with_metadata(flatbuffer, metadata_buffer(bundle), labels)
    logger.info(
        "app model: %s, %d classes, %.1f MiB", MODEL_FILE, len(bundle.head.labels()),
        len(model) / 2**20,
    )  # fmt: skip
    return {
        MODEL_FILE: model,
        LABELS_FILE: labels.encode(),
        "model_card.md": model_card(bundle, len(model)).encode(),
    }
