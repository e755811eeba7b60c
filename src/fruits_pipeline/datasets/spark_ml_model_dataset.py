"""``SparkMLModelDataset``: saves and loads a fitted Spark ML ``PipelineModel``."""

from __future__ import annotations

import os
from typing import Any

from kedro.io import AbstractDataset
from pyspark.ml import PipelineModel


class SparkMLModelDataset(AbstractDataset[PipelineModel, PipelineModel]):
    """A fitted ``pyspark.ml.PipelineModel`` in Spark ML's own folder format.

    Example:
        ```yaml
        reduction_model:
          type: fruits_pipeline.datasets.SparkMLModelDataset
          filepath: data/06_models/reduction_model
        ```

    Local paths are made absolute; ``s3://`` is read and written as ``s3a://``, like
    ``spark.SparkDatasetV2`` does.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None):
        if filepath.startswith("s3://"):
            filepath = "s3a://" + filepath.removeprefix("s3://")
        elif "://" not in filepath:
            filepath = "file://" + os.path.abspath(filepath)
        self._filepath = filepath
        self.metadata = metadata

    def load(self) -> PipelineModel:
        return PipelineModel.load(self._filepath)

    def save(self, data: PipelineModel) -> None:
        data.write().overwrite().save(self._filepath)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath}
