"""``CommittedSparkDataset``: versioned Spark output a reader only sees once committed."""

from __future__ import annotations

from typing import Any

from kedro_datasets.spark import SparkDatasetV2

from .hadoop_fs import glob_uris, is_complete, protocol_uri


class CommittedSparkDataset(SparkDatasetV2):
    """``spark.SparkDatasetV2`` for ``versioned: true`` outputs on object stores.

    Each save writes a new ``<filepath>/<version>/<name>`` folder; a load takes the
    newest version whose ``_SUCCESS`` exists - Spark writes it after the job commit - so
    a reader sees the previous complete output or the new complete one, never a half
    written or failed version. Versions are listed through Hadoop's FileSystem (the
    endpoint and credentials Spark uses), not fsspec.

    Example:
        ```yaml
        image_features:
          type: fruits_pipeline.datasets.CommittedSparkDataset
          filepath: s3://bucket/data/04_feature/image_features.parquet
          file_format: parquet
          versioned: true
        ```
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._exists_function = lambda path: is_complete(self._uri(path))
        self._glob_function = lambda pattern: glob_uris(self._uri(pattern))

    def _uri(self, path: Any) -> str:
        return protocol_uri(self._protocol, str(path))
