"""Listing through Hadoop's FileSystem: what Spark sees, with its credentials and endpoint."""

from __future__ import annotations

from pyspark.sql import SparkSession

# Spark's job commit (and SparkMLModelDataset) write it last: its presence = complete.
COMPLETE_MARKER = "_SUCCESS"


def hadoop_filesystem(uri: str):
    """(Hadoop Path, its FileSystem) for a URI, from the active SparkSession's config."""
    spark = SparkSession.builder.getOrCreate()
    path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def glob_uris(pattern: str) -> list[str]:
    """Paths matching a URI glob, as ``authority + path`` (``bucket/key``, ``/abs/path``)."""
    path, filesystem = hadoop_filesystem(pattern)
    uris = [status.getPath().toUri() for status in filesystem.globStatus(path) or []]
    return [(uri.getAuthority() or "") + uri.getPath() for uri in uris]


def is_complete(uri: str) -> bool:
    path, filesystem = hadoop_filesystem(f"{uri.rstrip('/')}/{COMPLETE_MARKER}")
    return bool(filesystem.exists(path))


def mark_complete(uri: str) -> None:
    path, filesystem = hadoop_filesystem(f"{uri.rstrip('/')}/{COMPLETE_MARKER}")
    filesystem.create(path, True).close()
