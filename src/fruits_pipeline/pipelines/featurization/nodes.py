"""The featurize node: labelled image rows -> MobileNetV2 features (+ rejected files)."""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pandas as pd
from py4j.protocol import Py4JJavaError
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf

from .model import FeaturizerConfig, export_model, featurize_batches

logger = logging.getLogger(__name__)

FEATURES_SCHEMA = "features array<float>, error string"
EMPTY_FILE_REASON = "empty file (0 bytes); replace or remove the file"
# image_features columns; an image's features are reused while these keys are unchanged.
FEATURE_COLUMNS = ["path", "label", "split", "size_bytes", "modified", "features"]
KEY_COLUMNS = ["path", "size_bytes", "modified"]


def listed_files(images: DataFrame) -> list[str]:
    """Every file the scan behind ``images`` lists, spelled as Spark spells ``path`` in rows.

    ``inputFiles`` gives URIs (``file:///a%20b``); rows carry ``file:/a b``.
    """
    return [unquote(uri).replace("file:///", "file:/", 1) for uri in images.inputFiles()]


def featurize_partitions(n_images: int, parallelism: int, images_per_partition: int) -> int:
    """Enough tasks to keep every core busy, small enough for steady progress and retries.

    The scan's many small file splits are coalesced to this count: no shuffle of image bytes.
    """
    return max(parallelism, math.ceil(n_images / images_per_partition))


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


def featurize_images(
    labelled_images: DataFrame, params: dict[str, Any]
) -> tuple[DataFrame, pd.DataFrame]:
    """MobileNetV2 features of every image; files Pillow cannot decode are set aside.

    See ``_featurize``; ``featurize_new_images`` is the incremental variant.
    """
    config = FeaturizerConfig.from_params(params)
    return _featurize(labelled_images, listed_files(labelled_images), config)


def reusable_features(labelled_images: DataFrame, stored_features: DataFrame | None):
    """Stored feature rows whose file is still there unchanged (same path, size, mtime).

    None when there is nothing to reuse from: no stored features, or features written
    before they carried the size/mtime keys.
    """
    if stored_features is None:
        return None
    missing = sorted(set(FEATURE_COLUMNS) - set(stored_features.columns))
    if missing:
        logger.warning(
            "incremental: stored image_features lack columns %s; featurizing every image", missing
        )
        return None
    current = labelled_images.select(
        "path", "size_bytes", F.col("modificationTime").alias("modified")
    )
    return stored_features.select(*FEATURE_COLUMNS).join(current, KEY_COLUMNS, "left_semi")


def featurize_new_images(
    labelled_images: DataFrame,
    stored_image_features: DataFrame | None,
    params: dict[str, Any],
    incremental: bool,
) -> tuple[DataFrame, pd.DataFrame]:
    """``featurize_images``; with ``incremental`` only new or changed images are featurized.

    Features of unchanged files (path + size + modification time) come from the stored
    ``image_features`` (its newest committed version); files gone or changed since drop
    out. The reused rows are checkpointed: they feed the path list, the anti-join and the
    union, and the stored version is read once.
    """
    config = FeaturizerConfig.from_params(params)
    listed = listed_files(labelled_images)
    if not isinstance(incremental, bool):
        raise ValueError(f"incremental={incremental!r} must be true or false.")
    reused = reusable_features(labelled_images, stored_image_features) if incremental else None
    if reused is None:
        if incremental:
            logger.info("incremental: no stored image_features yet; featurizing every image")
        return _featurize(labelled_images, listed, config)

    reused = reused.localCheckpoint(eager=True)
    reused_paths = {row.path for row in reused.select("path").toLocalIterator()}
    n_stored = stored_image_features.count()
    new_images = labelled_images.join(F.broadcast(reused.select("path")), "path", "left_anti")
    new_listed = [path for path in listed if path not in reused_paths]
    logger.info(
        "incremental: %d stored features reused, %d dropped (file gone or changed), "
        "%d new or changed images to featurize",
        len(reused_paths), n_stored - len(reused_paths), len(new_listed),
    )  # fmt: skip
    features, rejected = _featurize(new_images, new_listed, config, allow_empty=True)
    logger.info(
        "files seen %d = reused %d + featurized %d + rejected %d",
        len(listed), len(reused_paths), len(new_listed) - len(rejected), len(rejected),
    )  # fmt: skip
    return reused.unionByName(features), rejected


def _featurize(
    labelled_images: DataFrame, listed: list[str], config: FeaturizerConfig, allow_empty=False
) -> tuple[DataFrame, pd.DataFrame]:
    """MobileNetV2 features of every image; files Pillow cannot decode are set aside.

    The weights are loaded once on the driver and broadcast; each Python worker builds
    the model once (see ``model.worker_model``) and predicts in ``batch_size`` batches.
    The result is persisted so that the features and the rejected rows come from one
    pass over the images.

    Returns:
        ``image_features`` (path, label, split, size_bytes, modified, features:
        array<float>[1280]) and ``rejected_images`` (path, reason) as pandas.
    """
    sc = labelled_images.sparkSession.sparkContext
    total = len(listed)
    if total == 0 and allow_empty:
        logger.info("no new image to featurize")
        empty = labelled_images.limit(0).select(
            "path", "label", "split", "size_bytes", F.col("modificationTime").alias("modified"),
            F.lit(None).cast("array<float>").alias("features"),
        )  # fmt: skip
        return empty, pd.DataFrame({"path": [], "reason": []}, dtype=object)
    if total == 0:
        raise ValueError(
            "No .jpg/.jpeg image found in the input folder of 'raw_images'. Check "
            "`input_path` (kedro run --params input_path=/folder/of/class/folders)."
        )
    model_broadcast = sc.broadcast(export_model(config))
    model_key = uuid.uuid4().hex  # identifies this run's model in the workers' cache
    images_done = sc.accumulator(0)
    threads = int(sc.getConf().get("spark.task.cpus", "1"))

    @pandas_udf(FEATURES_SCHEMA)
    def featurize_udf(contents: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        yield from featurize_batches(
            contents,
            model_broadcast,
            model_key,
            config=config,
            images_done=images_done,
            threads=threads,
        )

    partitions = featurize_partitions(total, sc.defaultParallelism, config.images_per_partition)
    logger.info(
        "featurizing %d images: MobileNetV2 alpha=%s %dpx, backend=%s, %d partitions",
        total, config.alpha, config.image_size, config.backend, partitions,
    )  # fmt: skip
    featurized = (
        labelled_images.coalesce(partitions)
        .withColumn("result", featurize_udf("content"))
        .select(
            *FEATURE_COLUMNS[:4],
            F.col("modificationTime").alias("modified"),
            "result.features",
            "result.error",
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        with ProgressLogger(images_done, total, config.progress_interval_s):
            n_rows = featurized.count()
    except Py4JJavaError as error:  # the executors could not read the images
        cause = str(error.java_exception.toString()).splitlines()[0][:500]
        raise OSError(
            f"Reading the images failed (e.g. {listed[0]}): {cause}. If the storage was "
            "unreachable or refused the credentials, fix that and rerun."
        ) from None
    # Spark's file reader skips 0-byte files: record them instead of losing them silently.
    unread = []
    if n_rows < total:
        read = {row.path for row in featurized.select("path").collect()}
        unread = sorted(set(listed) - read)

    image_features = featurized.where(F.col("error").isNull()).drop("error")
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
    return image_features, rejected
