"""Datasets kedro-datasets does not have."""

from .optional_spark_dataset import OptionalSparkDataset
from .spark_ml_model_dataset import SparkMLModelDataset
from .versioned_spark_dataset import CommittedSparkDataset

__all__ = ["CommittedSparkDataset", "OptionalSparkDataset", "SparkMLModelDataset"]
