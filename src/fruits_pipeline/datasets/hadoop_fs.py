"""Storage through Hadoop's FileSystem: what Spark sees, with its credentials and endpoint."""

from __future__ import annotations

import os

from kedro.io.core import get_protocol_and_path
from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

from fruits_pipeline.errors import UserError

# Spark's job commit (and the model datasets) write it last: its presence = complete.
COMPLETE_MARKER = "_SUCCESS"


def protocol_uri(protocol: str, path: str) -> str:
    """``path`` (without protocol) as Spark and Hadoop read it: s3 as s3a, local as is."""
    if protocol == "file":
        return path
    if protocol in ("s3", "s3n", "s3a"):
        return f"s3a://{path}"
    return f"{protocol}://{path}"


def shown_path(path: str) -> str:
    """A path as a log line shows it: relative when below the working directory."""
    local = path.removeprefix("file:")
    if "://" in local or not os.path.isabs(local):
        return local
    relative = os.path.relpath(local)
    return local if relative.startswith("..") else relative


def spark_uri(filepath: str) -> str:
    """The URI Spark and Hadoop read for a catalog path: local paths absolute, s3:// as s3a://.

    kedro-datasets' Spark datasets spell paths the same way.
    """
    protocol, path = get_protocol_and_path(str(filepath))
    return protocol_uri(protocol, os.path.abspath(path) if protocol == "file" else path)


def hadoop_filesystem(uri: str):
    """(Hadoop Path, its FileSystem) for a URI, from the active SparkSession's config."""
    spark = SparkSession.builder.getOrCreate()
    path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def storage_error(uri: str, error: Py4JJavaError, doing: str) -> UserError:
    """A Hadoop/S3 failure as one line a user can act on (missing bucket, credentials)."""
    cause = str(error.java_exception.toString()).splitlines()[0][:400]
    return UserError(
        f"Cannot {doing} {uri}: {cause}. Check that the bucket exists and that AWS "
        "credentials are set (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or the "
        "instance role), then rerun."
    )


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


def write_bytes(uri: str, content: bytes) -> None:
    """One file written through Hadoop (a single PUT on S3)."""
    path, filesystem = hadoop_filesystem(uri)
    stream = filesystem.create(path, True)
    try:
        stream.write(bytearray(content))
    finally:
        stream.close()


def read_bytes(uri: str) -> bytes:
    path, filesystem = hadoop_filesystem(uri)
    spark = SparkSession.builder.getOrCreate()
    stream = filesystem.open(path)
    try:
        return bytes(spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()


def delete(uri: str) -> bool:
    path, filesystem = hadoop_filesystem(uri)
    return bool(filesystem.delete(path, True))


def glob_escape(uri: str) -> str:
    """A file path Hadoop's glob reads literally (class names may hold [ ] { } * ?)."""
    return "".join(f"\\{c}" if c in "[]{}*?\\" else c for c in uri)
