"""Featurization nodes: select what to featurize, featurize it, merge with what is reused."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pandas as pd
import pyarrow as pa
from py4j.protocol import Py4JJavaError
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, FloatType, StringType, StructField, StructType

from fruits_pipeline.datasets.hadoop_fs import glob_escape
from fruits_pipeline.errors import UserError
from fruits_pipeline.params import FeaturizationParams

from .featurizer import Featurizer
from .model import featurize_record_batches

logger = logging.getLogger(__name__)

EMPTY_FILE_REASON = "empty file (0 bytes); replace or remove the file"
NO_CLASS_REASON = (
    "not inside a class folder (see label_depth); move it into <input folder>/<Class>/ "
    "or <input folder>/<Training|Test>/<Class>/"
)
# image_features columns; an image's features are reused while its path, size,
# modification time and the featurizer's fingerprint are unchanged.
# source and family: see datasets.ImageFolderDataset (a family-labelled photo has no label).
FEATURE_COLUMNS = [
    "path", "label", "split", "size_bytes", "modified", "source", "family", "featurizer",
    "features",
]  # fmt: skip
KEY_COLUMNS = ["path", "size_bytes", "modified"]
# Paths of the composites (pipelines/augmentation), which are no files:
# composite:/<kind>-<settings>-<n>/<photo>
COMPOSITE_PREFIX = "composite:/"
FEATURES_DDL = (
    "path string, label string, split string, size_bytes long, modified timestamp, "
    "source string, family string, featurizer string, features array<float>"
)


def listed_files(images: DataFrame) -> list[str]:
    """Every file the scan behind ``images`` lists, spelled as Spark spells ``path`` in rows.

    ``inputFiles`` gives URIs (``file:///a%20b``); rows carry ``file:/a b``. Unlike the
    rows, it includes 0-byte files, which Spark's reader skips.
    """
    return [unquote(uri).replace("file:///", "file:/", 1) for uri in images.inputFiles()]


def featurize_partitions(n_images: int, parallelism: int, images_per_partition: int) -> int:
    """Enough tasks to keep every core busy, small enough for steady progress and retries.

    A multiple of ``parallelism``: every wave of tasks fills every core, so the cores
    finish together instead of one running the last task alone. The scan's many small
    file splits are coalesced to this count: no shuffle of image bytes.
    """
    waves = math.ceil(n_images / (images_per_partition * parallelism))
    return max(1, waves) * parallelism


class ProgressLogger:
    """Logs images done and rate from a Spark accumulator while an action runs."""

    def __init__(self, images_done, total: int, interval_s: float):
        self._images_done = images_done
        self._total = total
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _log(self) -> None:
        done = self._images_done.value
        elapsed = time.monotonic() - self._start
        logger.info(
            "featurized %d/%d images (%.0f%%) in %.0f s, %.1f img/s",
            done, self._total, 100 * done / max(self._total, 1), elapsed,
            done / max(elapsed, 1e-9),
        )  # fmt: skip

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._log()

    def __enter__(self) -> ProgressLogger:
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._log()


def _no_features(images: DataFrame) -> DataFrame:
    return images.sparkSession.createDataFrame([], FEATURES_DDL)


def select_images_to_featurize(
    labelled_images: DataFrame,
    stored_image_features: DataFrame | None,
    featurizer: Featurizer,
    incremental: bool,
) -> tuple[DataFrame, list[str], DataFrame]:
    """Which images need the model: all of them, or (incremental) only new or changed ones.

    A stored feature row is reused while its file has the same path, size and
    modification time and it was made by a featurizer with the current fingerprint.
    Which files those are is decided from metadata alone; only the bytes of the files
    left to featurize are read (by path), so an incremental run does not download the
    unchanged images again.

    Returns:
        ``images_to_featurize`` (rows with content), ``files_to_featurize`` (every file
        listed for them, 0-byte ones included) and ``reused_image_features``.
    """
    listed = listed_files(labelled_images)
    if not incremental:
        return labelled_images, listed, _no_features(labelled_images)
    if stored_image_features is None:
        logger.info("incremental: no stored image_features yet; featurizing every image")
        return labelled_images, listed, _no_features(labelled_images)
    missing = sorted(set(FEATURE_COLUMNS) - set(stored_image_features.columns))
    if missing:
        logger.info(
            "incremental: stored image_features lack %s (written by an older version); "
            "featurizing every image", missing,
        )  # fmt: skip
        return labelled_images, listed, _no_features(labelled_images)

    current = featurizer.fingerprint
    # Composites are reused by the augmentation pipeline (make_composites).
    stored = stored_image_features.where(~F.col("path").startswith(COMPOSITE_PREFIX)).select(
        *FEATURE_COLUMNS
    )
    fingerprints = [row.featurizer for row in stored.select("featurizer").distinct().collect()]
    if fingerprints and current not in fingerprints:
        logger.info(
            "incremental: the featurizer changed (stored features were made by %s, current "
            "is %s: %s); re-featurizing every image",
            ", ".join(sorted(fingerprints)), current, featurizer.describe(),
        )  # fmt: skip
        return labelled_images, listed, _no_features(labelled_images)

    # Labels and splits come from this run's listing (the split may be a new holdout).
    labels = ["label", "split", "source", "family"]
    metadata = labelled_images.select("path", *labels, *KEY_COLUMNS[1:])
    reused = (
        stored.where(F.col("featurizer") == current)
        .drop(*labels)
        .join(metadata, KEY_COLUMNS, "inner")
        .select(*FEATURE_COLUMNS)
        .localCheckpoint(eager=True)  # read the stored version once
    )
    reused_paths = {row.path for row in reused.select("path").toLocalIterator()}
    new_files = [path for path in listed if path not in reused_paths]
    n_stored = stored.count()
    logger.info(
        "incremental: %d stored features reused, %d dropped (file gone or changed), "
        "%d new or changed images to featurize",
        len(reused_paths), n_stored - len(reused_paths), len(new_files),
    )  # fmt: skip
    if not new_files:
        return labelled_images.limit(0), [], reused
    spark = labelled_images.sparkSession
    contents = spark.read.format("binaryFile").load([glob_escape(p) for p in new_files])
    new_images = contents.select("path", "content").join(
        F.broadcast(metadata.join(F.broadcast(reused.select("path")), "path", "left_anti")),
        "path",
    )
    return new_images, new_files, reused


def featurize_images(
    images_to_featurize: DataFrame,
    files_to_featurize: list[str],
    featurizer: Featurizer,
    params: dict[str, Any],
    require_label: bool = True,
) -> tuple[DataFrame, pd.DataFrame]:
    """MobileNetV2 features of every image; files that cannot be featurized are set aside.

    The featurizer is broadcast; each Python worker builds its model once (see
    ``model.worker_model``) and predicts in ``batch_size`` batches. The result is
    persisted so that the features and the rejected rows come from one pass over the
    images (``hooks.SparkCacheHooks`` releases it once the features are saved).

    Rejected: files Pillow cannot decode, 0-byte files (Spark's reader skips them) and,
    with ``require_label``, photos outside any class folder (null label), each with its
    reason.

    Returns:
        features (path, label, split, size_bytes, modified, source, family, featurizer,
        features: array<float>[1280]) and ``rejected`` (path, reason) as pandas.
    """
    config = FeaturizationParams.model_validate(params)
    total = len(files_to_featurize)
    if total == 0:
        logger.info("no new image to featurize")
        return _no_features(images_to_featurize), pd.DataFrame(
            {"path": [], "reason": []}, dtype=object
        )
    sc = images_to_featurize.sparkSession.sparkContext
    model_broadcast = sc.broadcast(featurizer)
    model_key = featurizer.fingerprint
    images_done = sc.accumulator(0)
    threads = int(sc.getConf().get("spark.task.cpus", "1"))
    batch_size = config.batch_size

    def featurize_arrow(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        yield from featurize_record_batches(
            batches, model_broadcast, model_key, batch_size=batch_size,
            images_done=images_done, threads=threads,
        )  # fmt: skip

    partitions = featurize_partitions(total, sc.defaultParallelism, config.images_per_partition)
    logger.info(
        "featurizing %d images (featurizer %s), %d partitions",
        total, featurizer.fingerprint, partitions,
    )  # fmt: skip
    # Photos outside any class folder are recorded in the same pass, never decoded.
    unlabelled = (
        F.col("label").isNull() & F.col("family").isNull() if require_label else F.lit(False)
    )
    columns = ["path", "label", "split", "size_bytes", "modified", "source", "family"]
    to_featurize = images_to_featurize.coalesce(partitions).select(
        *columns, F.when(~unlabelled, F.col("content")).alias("content")
    )
    # mapInArrow, not a pandas UDF: the features go back as one float32 buffer per batch,
    # where a pandas UDF makes a Python object of each of the 1,280 values of every image.
    result_schema = StructType(
        [field for field in to_featurize.schema if field.name != "content"]
        + [
            StructField("features", ArrayType(FloatType())),
            StructField("error", StringType()),
        ]
    )
    featurized = (
        to_featurize.mapInArrow(featurize_arrow, result_schema)
        .select(
            *columns,
            F.lit(featurizer.fingerprint).alias("featurizer"),
            F.when(~unlabelled, F.col("features")).alias("features"),
            F.when(unlabelled, F.lit(NO_CLASS_REASON)).otherwise(F.col("error")).alias("error"),
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        with ProgressLogger(images_done, total, config.progress_interval_s):
            n_rows = featurized.count()
    except Py4JJavaError as error:  # the executors could not read the images
        cause = str(error.java_exception.toString()).splitlines()[0][:500]
        raise UserError(
            f"Reading the images failed (e.g. {files_to_featurize[0]}): {cause}. If the "
            "storage was unreachable or refused the credentials, fix that and rerun."
        ) from None
    # Spark's file reader skips 0-byte files: record them instead of losing them silently.
    unread = []
    if n_rows < total:
        read = {row.path for row in featurized.select("path").collect()}
        unread = sorted(set(files_to_featurize) - read)

    features = featurized.where(F.col("error").isNull()).drop("error")
    rejected = pd.concat(
        [
            featurized.where(F.col("error").isNotNull())
            .select("path", F.col("error").alias("reason"))
            .toPandas(),
            pd.DataFrame({"path": unread, "reason": EMPTY_FILE_REASON}, dtype=object),
        ],
        ignore_index=True,
    )
    n_rejected = len(rejected)
    logger.info(
        "images seen %d = featurized %d + rejected %d", total, total - n_rejected, n_rejected
    )
    for path, reason in rejected.head(20).itertuples(index=False):
        logger.warning("rejected %s: %s", path, reason)
    return features, rejected


def merge_image_features(
    reused_image_features: DataFrame, new_image_features: DataFrame, composite_features: DataFrame
) -> DataFrame:
    """image_features: the reused rows, the newly featurized ones and the Training
    composites (pipelines/augmentation; none when it is off), one row per image."""
    return reused_image_features.unionByName(new_image_features).unionByName(
        composite_features.select(*FEATURE_COLUMNS)
    )
