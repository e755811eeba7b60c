"""``OptionalSparkDataset``: a Spark dataset that may not exist yet (loads as None)."""

from __future__ import annotations

import logging

from kedro.io.core import VersionNotFoundError
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame

from .hadoop_fs import shown_path
from .versioned_spark_dataset import CommittedSparkDataset

logger = logging.getLogger(__name__)


class OptionalSparkDataset(CommittedSparkDataset):
    """``CommittedSparkDataset`` whose load gives None while no complete version exists.

    For an input a pipeline reads back from its own earlier runs (incremental mode's
    stored features): the first run has no such output, and that is not an error; nor is
    a stored version that cannot be read any more (logged, then treated as absent).
    """

    # kedro aliases ``load`` to ``_load`` in subclasses of datasets that define ``_load``.
    def _load(self) -> DataFrame | None:
        try:
            exists = self._exists()
        except VersionNotFoundError:
            exists = False
        if not exists:
            # The first run's normal case: said only at DEBUG, the log stays one screen.
            logger.debug("%s has no complete version yet", shown_path(self._uri(self._filepath)))
            return None
        try:
            return super()._load()
        except AnalysisException as error:  # e.g. a version whose files were removed by hand
            logger.warning(
                "%s: the newest complete version cannot be read (%s); it is not used",
                self._uri(self._filepath), str(error).splitlines()[0][:200],
            )  # fmt: skip
            return None
