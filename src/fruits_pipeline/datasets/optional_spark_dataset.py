"""``OptionalSparkDataset``: a Spark dataset that may not exist yet (loads as None)."""

from __future__ import annotations

import logging

from kedro_datasets.spark import SparkDatasetV2
from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)


class OptionalSparkDataset(SparkDatasetV2):
    """``spark.SparkDatasetV2`` whose load gives None while nothing was saved there.

    For an input a pipeline reads back from its own earlier runs (incremental mode's
    stored features): the first run has no such output, and that is not an error.
    """

    # kedro aliases ``load`` to ``_load`` in subclasses of datasets that define ``_load``.
    def _load(self) -> DataFrame | None:
        if not self._exists():
            logger.info("%s does not exist yet", self._describe()["filepath"])
            return None
        return super()._load()
