"""``CommittedSparkDataset``: versioned Spark output a reader only sees once committed."""

from __future__ import annotations

from typing import Any

import pyarrow.dataset
from kedro_datasets._typing import TablePreview
from kedro_datasets.spark import SparkDatasetV2

from .hadoop_fs import glob_uris, is_complete, protocol_uri
from .previews import frame_preview, newest_complete


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

    def preview(self, nrows: int = 5, columns: list[str] | None = None) -> TablePreview:
        """kedro-viz: the first rows of the newest committed version (parquet, read by
        pyarrow, not Spark); ``columns`` leaves out wide ones such as the feature vector."""
        root = self._path if self._protocol == "file" else f"{self._protocol}://{self._path}"
        filesystem, folder = newest_complete(root)
        table = pyarrow.dataset.dataset(folder, filesystem=filesystem, format=self._file_format)
        return frame_preview(table.head(nrows, columns=columns).to_pandas())
