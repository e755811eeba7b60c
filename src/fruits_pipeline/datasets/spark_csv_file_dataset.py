"""``SparkCSVFileDataset``: one CSV file written by a Spark task, never by the driver."""

from __future__ import annotations

import io
from pathlib import PurePosixPath
from typing import Any

import pandas as pd
from kedro.io.core import AbstractVersionedDataset, DatasetError, get_protocol_and_path
from pyspark.sql import DataFrame

from .hadoop_fs import delete, glob_uris, hadoop_filesystem, protocol_uri, read_bytes


class SparkCSVFileDataset(AbstractVersionedDataset[DataFrame, pd.DataFrame]):
    """A Spark DataFrame saved as a single CSV file (header, RFC 4180 quoting).

    One executor task writes every row (``coalesce(1)``) into a folder beside the target,
    then the part file is renamed to ``<filepath>/<version>/<name>`` through Hadoop's
    FileSystem (a server-side copy on S3): the rows never pass through the driver, and a
    reader sees the whole file or none. Loads return pandas, for notebooks; pipelines read
    the Spark dataset the CSV copies.

    Example:
        ```yaml
        pca_features_table:
          type: fruits_pipeline.datasets.SparkCSVFileDataset
          filepath: s3://bucket/data/05_model_input/pca_features.csv
          versioned: true
        ```
    """

    def __init__(self, *, filepath: str, version=None, metadata: dict | None = None):
        self._protocol, path = get_protocol_and_path(filepath)
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=lambda p: self._exists_uri(self._uri(p)),
            glob_function=lambda pattern: glob_uris(self._uri(pattern)),
        )

    def _uri(self, path: Any) -> str:
        return protocol_uri(self._protocol, str(path))

    @staticmethod
    def _exists_uri(uri: str) -> bool:
        path, filesystem = hadoop_filesystem(uri)
        return bool(filesystem.exists(path))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._uri(self._filepath), "version": self._version}

    def save(self, data: DataFrame) -> None:
        target = self._uri(self._get_save_path())
        parts = f"{target}.parts"
        (
            data.coalesce(1)
            .write.mode("overwrite")
            .option("header", True)
            .option("escape", '"')  # quotes doubled, as pandas and spreadsheets write them
            .csv(parts)
        )
        written = [self._uri(path) for path in glob_uris(f"{parts}/part-*")]
        if len(written) != 1:
            raise DatasetError(f"expected one CSV part file under {parts}, found {len(written)}")
        source, filesystem = hadoop_filesystem(written[0])
        destination, _ = hadoop_filesystem(target)
        if not filesystem.rename(source, destination):
            raise DatasetError(f"could not rename {written[0]} to {target}")
        delete(parts)

    def load(self) -> pd.DataFrame:
        return pd.read_csv(io.BytesIO(read_bytes(self._uri(self._get_load_path()))))

    def _exists(self) -> bool:
        try:
            load_path = self._get_load_path()
        except DatasetError:
            return False
        return self._exists_uri(self._uri(load_path))
