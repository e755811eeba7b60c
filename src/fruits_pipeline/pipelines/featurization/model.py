"""MobileNetV2 inference in the Python workers: one model per worker, batches apart.

Shaped like ``pyspark.ml.functions.predict_batch_udf``: the driver builds the
:class:`~.featurizer.Featurizer` once, Spark broadcasts it, each Python worker builds its
runner the first time it sees that featurizer (:func:`worker_model`, cached by
fingerprint) and reuses it for every task; batching (:func:`featurize_record_batches`,
the body of the node's ``mapInArrow`` function) is kept apart from the model.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
from PIL import Image, ImageOps, UnidentifiedImageError

from fruits_pipeline.native import import_tensorflow, quiet_native_stderr

logger = logging.getLogger(__name__)

FEATURE_DIM = 1280  # MobileNetV2's pooled output for alpha <= 1.0
RESIZE_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
# The only Pillow decoders that ever see image bytes (photos are untrusted input), most
# likely first. JPEG: the data set and phone/camera photos (Pillow's JPEG reader also opens
# MPO, the multi-picture JPEG some cameras write); PNG, WEBP, GIF, BMP, TIFF: what photos are
# exported or shared as, and what a ".jpg" often really is. Not decoded: EPS/PS (Pillow hands
# them to Ghostscript), PDF, PSD, ICO and the rest of Pillow's rarely used readers: attack
# surface with no use here. The featurizer, the sample grid and fruits-predict all use this.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
# Largest image accepted, in pixels: 8192 x 8192 = 67 MP covers phone (12-50 MP) and camera
# (24-61 MP) photos. A header declaring more is refused before any pixel is decoded, so a
# decompression bomb (a few KB that declare gigapixels) costs nothing; Pillow's own limit
# (89 MP, only a warning below 179 MP) is higher.
MAX_IMAGE_PIXELS = 8192 * 8192


class KerasRunner:
    """Batched inference with the Keras model compiled into one ``tf.function``."""

    def __init__(self, exported, threads: int):
        tf, keras = import_tensorflow()

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # already initialised in this worker: keep its settings
            pass
        model = keras.applications.MobileNetV2(
            weights=None, include_top=False, alpha=exported.alpha,
            input_shape=(exported.image_size, exported.image_size, 3), pooling="avg",
        )  # fmt: skip
        model.set_weights(exported.payload)
        size = exported.image_size
        self._predict = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)],
        )

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self._predict(images).numpy()


class TFLiteRunner:
    """Batched inference with the TFLite interpreter (XNNPACK delegate on CPU)."""

    def __init__(self, exported, threads: int):
        from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

        # LiteRT prints "Created ... XNNPACK delegate" on fd 2 when it first plans the graph.
        with quiet_native_stderr():
            self._interpreter = Interpreter(model_content=exported.payload, num_threads=threads)
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._batch = 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        count = images.shape[0]
        if count > self._batch:
            # Resizing re-plans the XNNPACK graph (slow): grow only, pad smaller batches.
            self._interpreter.resize_tensor_input(self._input, [count, *images.shape[1:]])
            self._interpreter.allocate_tensors()
            self._batch = count
        if count < self._batch:
            padding = np.zeros((self._batch - count, *images.shape[1:]), dtype=images.dtype)
            images = np.concatenate([images, padding])
        self._interpreter.set_tensor(self._input, images)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output)[:count].copy()


# Quantized flatbuffers keep float32 input and output: the same runner.
RUNNERS: dict[str, type] = {
    "keras": KerasRunner, "tflite": TFLiteRunner, "tflite_fp16": TFLiteRunner,
    "tflite_int8": TFLiteRunner,
}  # fmt: skip

# One runner per Python worker process and featurizer (Spark reuses Python workers).
_WORKER_MODELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {}


def worker_model(broadcast, model_key: str, threads: int = 1) -> Callable[[np.ndarray], np.ndarray]:
    """The runner for the broadcast featurizer ``model_key`` in this process, built on first use."""
    runner = _WORKER_MODELS.get(model_key)
    if runner is None:
        featurizer = broadcast.value
        runner = RUNNERS[featurizer.backend](featurizer, threads)
        _WORKER_MODELS.clear()  # a new model replaces the old one: bounded memory
        _WORKER_MODELS[model_key] = runner
    return runner


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB, keeping what a person would see.

    16-bit samples are scaled (a plain convert clips them to white); transparent pixels
    are composited on white, the background of Fruits-360 photos.
    """
    if image.mode.startswith("I;16") or (image.mode == "I" and image.getextrema()[1] > 255):
        eight_bit = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(eight_bit.round().clip(0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return image.convert("RGB")


class ImageRejected(ValueError):
    """Bytes that are not decoded; the message is the reason, for rejected_images.csv."""


def _too_many_pixels(pixels: int, dimensions: str = "") -> ImageRejected:
    return ImageRejected(
        f"{dimensions}{pixels:,} pixels, more than the {MAX_IMAGE_PIXELS:,} (8192x8192) "
        "accepted for a photo: a decompression bomb or an oversized scan; "
        "replace or remove the file"
    )


def _format_by_signature(prefix: bytes) -> str | None:
    """The Pillow format whose file signature ``prefix`` carries; header bytes only, no decoder."""
    Image.init()
    for name, (_, accept) in Image.OPEN.items():
        if accept is not None and accept(prefix) is True:
            return name
    return None


def open_image(content: bytes) -> Image.Image:
    """Untrusted bytes -> a lazily decoded Pillow image, or ImageRejected with the reason.

    Only the ACCEPTED_FORMATS decoders are tried, and the declared size is checked against
    MAX_IMAGE_PIXELS before anything is decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        if declared is None:
            raise ImageRejected(f"{exc}; replace or remove the file") from exc
        raise _too_many_pixels(int(declared.group(1))) from exc
    except OSError as exc:  # no accepted decoder recognised the header, or it is cut short
        found = _format_by_signature(content[:16])
        if found is None:
            raise ImageRejected(
                "not an image format Pillow can read; replace or remove the file"
            ) from exc
        if found in ACCEPTED_FORMATS:
            raise ImageRejected(
                f"a damaged {found} file (its header cannot be read); replace or remove the file"
            ) from exc
        raise ImageRejected(
            f"a file in {found} format (by its first bytes), which is not decoded here "
            f"(accepted: {', '.join(ACCEPTED_FORMATS)}); replace or remove the file"
        ) from exc
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        image.close()
        raise _too_many_pixels(width * height, f"{width}x{height} = ")
    return image


def decode_image(content: bytes, image_size: int, resize_filter: str = "bilinear") -> np.ndarray:
    """Bytes of an accepted image (ACCEPTED_FORMATS, at most MAX_IMAGE_PIXELS) -> uint8 RGB
    array of shape (size, size, 3); ImageRejected otherwise."""
    with open_image(content) as image:
        # JPEG only: let libjpeg decode large photos at 1/2..1/8 scale (no-op when small).
        image.draft("RGB", (image_size, image_size))
        rgb = to_rgb(ImageOps.exif_transpose(image))
        if rgb.size != (image_size, image_size):
            rgb = rgb.resize(
                (image_size, image_size), RESIZE_FILTERS[resize_filter], reducing_gap=3.0
            )
        return np.asarray(rgb, dtype=np.uint8)


def preprocess(images: np.ndarray) -> np.ndarray:
    """uint8 RGB batch -> MobileNetV2 input in [-1, 1].

    The same arithmetic as ``keras.applications.mobilenet_v2.preprocess_input`` (mode
    "tf"; a test checks equality), without importing Keras/TensorFlow into TFLite workers.
    """
    return images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def rejection_reason(exc: Exception) -> str:
    """One line for rejected_images.csv: what is wrong with the file."""
    if isinstance(exc, ImageRejected):
        return str(exc)
    if isinstance(exc, UnidentifiedImageError):
        return "not an image format Pillow can read; replace or remove the file"
    if isinstance(exc, FileNotFoundError):
        return "no such file; check the path"
    return f"cannot decode the image ({type(exc).__name__}: {exc}); replace or remove the file"


def featurize_contents(
    contents: list[bytes | None],
    model: Callable[[np.ndarray], np.ndarray],
    featurizer,
    batch_size: int = 1,
) -> tuple[np.ndarray, list[int], list[str | None]]:
    """Image bytes -> (features of the decoded rows, their row numbers, error per row).

    A file Pillow cannot decode (or a null) gets the reason in its row of ``errors``.
    """
    size = featurizer.image_size
    images = np.empty((len(contents), size, size, 3), dtype=np.uint8)
    errors: list[str | None] = [None] * len(contents)
    decoded: list[int] = []
    for row, content in enumerate(contents):
        try:
            images[len(decoded)] = decode_image(content, size, featurizer.resize_filter)
            decoded.append(row)
        except Exception as exc:
            errors[row] = rejection_reason(exc)
    features = np.empty((len(decoded), FEATURE_DIM), dtype=np.float32)
    for start in range(0, len(decoded), batch_size):
        stop = min(start + batch_size, len(decoded))
        features[start:stop] = model(preprocess(images[start:stop]))
    return features, decoded, errors


def features_array(features: np.ndarray, rows: list[int], n_rows: int) -> pa.Array:
    """Arrow ``list<float>`` of ``n_rows``: ``features[i]`` at ``rows[i]``, null elsewhere.

    Built from the float32 buffer as is: no per-value Python objects (what converting a
    pandas column of arrays costs), and the values are the model's bits.
    """
    dim = features.shape[1] if features.ndim == 2 else FEATURE_DIM
    valid = np.zeros(n_rows, dtype=bool)
    valid[rows] = True
    offsets = np.zeros(n_rows + 1, dtype=np.int32)
    offsets[1:] = np.cumsum(valid * dim)
    return pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(features.reshape(-1)), mask=pa.array(~valid)
    )


def featurize_record_batches(
    batches: Iterator[pa.RecordBatch],
    broadcast,
    model_key: str,
    *,
    content_column: str = "content",
    batch_size: int = 1,
    images_done=None,
    threads: int = 1,
) -> Iterator[pa.RecordBatch]:
    """Body of the ``mapInArrow`` function: each batch's columns pass through untouched,
    ``content_column`` is replaced by ``features`` and ``error``.

    The model is fetched once per task, not per batch.
    """
    model = worker_model(broadcast, model_key, threads)
    featurizer = broadcast.value
    for batch in batches:
        position = batch.schema.get_field_index(content_column)
        contents = batch.column(position).to_pylist()
        features, rows, errors = featurize_contents(contents, model, featurizer, batch_size)
        kept = batch.remove_column(position)
        results = [features_array(features, rows, len(contents)), pa.array(errors, pa.string())]
        yield pa.RecordBatch.from_arrays(
            [*kept.columns, *results], names=[*kept.schema.names, "features", "error"]
        )
        if images_done is not None:
            images_done.add(len(contents))
