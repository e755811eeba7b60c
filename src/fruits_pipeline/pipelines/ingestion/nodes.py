"""Pure functions turning Spark ``binaryFile`` rows into labelled image rows."""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

logger = logging.getLogger(__name__)


def _path_parts(path: Column) -> Column:
    # Spark 4's binaryFile gives the plain path (spaces, '%', non-ASCII kept as they are).
    return F.split(path, "/")


def label_from_path(path: Column) -> Column:
    """Class label = name of the image's parent folder ("Apple Red 1")."""
    return F.try_element_at(_path_parts(path), F.lit(-2))


def split_from_path(path: Column) -> Column:
    """``Training``/``Test`` when the grandparent folder is one of them (any case), else null."""
    grandparent = F.lower(F.try_element_at(_path_parts(path), F.lit(-3)))
    return F.when(grandparent == "training", "Training").when(grandparent == "test", "Test")


def label_images(raw_images: DataFrame) -> DataFrame:
    """Add ``label`` and ``split`` parsed from each file's path; keep path, size, mtime, bytes."""
    return raw_images.select(
        "path",
        label_from_path(F.col("path")).alias("label"),
        split_from_path(F.col("path")).alias("split"),
        F.col("length").alias("size_bytes"),
        "modificationTime",
        "content",
    )
