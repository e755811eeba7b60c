"""``SparkMLModelDataset``: saves and loads a fitted Spark ML ``PipelineModel``."""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, Version, VersionNotFoundError
from kedro_datasets._utils.databricks_utils import parse_spark_filepath, to_spark_path
from pyspark.ml import PipelineModel

from .hadoop_fs import glob_uris, is_complete, mark_complete


class SparkMLModelDataset(AbstractVersionedDataset[PipelineModel, PipelineModel]):
    """A fitted ``pyspark.ml.PipelineModel`` in Spark ML's own folder format.

    Example:
        ```yaml
        reduction_model:
          type: fruits_pipeline.datasets.SparkMLModelDataset
          filepath: s3://bucket/data/06_models/reduction_model
          versioned: true
        ```

    Local paths are made absolute; ``s3://`` is read and written as ``s3a://``, like
    ``spark.SparkDatasetV2`` does. Listing goes through Hadoop's FileSystem, so it sees
    what Spark sees with the same credentials and endpoint.

    With ``versioned: true`` every save writes a new ``<filepath>/<version>/<name>``
    folder and marks it complete last; a load takes the newest complete one. A reader
    never sees a half-written model, and nothing is deleted in place (object stores
    such as SeaweedFS keep empty "folders" for a while, which breaks ML's overwrite).
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        # The same path handling as spark.SparkDatasetV2 (s3:// is written as s3a://).
        self._protocol, path = parse_spark_filepath(filepath)
        if self._protocol == "file":
            path = os.path.abspath(path)
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._is_complete,
            glob_function=self._glob,
        )

    def _uri(self, path: PurePosixPath | str) -> str:
        return to_spark_path(self._protocol, str(path))

    def _glob(self, pattern: str) -> list[str]:
        return glob_uris(self._uri(pattern))

    def _is_complete(self, path: PurePosixPath | str) -> bool:
        return is_complete(self._uri(path))

    def load(self) -> PipelineModel:
        return PipelineModel.load(self._uri(self._get_load_path()))

    def save(self, data: PipelineModel) -> None:
        save_path = self._get_save_path()
        # A versioned save path is new, so overwrite only matters unversioned.
        data.write().overwrite().save(self._uri(save_path))
        mark_complete(self._uri(save_path))

    def _exists(self) -> bool:
        try:
            return self._is_complete(self._get_load_path())
        except VersionNotFoundError:  # no version saved yet
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._uri(self._filepath), "version": self._version}
