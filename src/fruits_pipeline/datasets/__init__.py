"""Datasets kedro-datasets does not have."""

from .optional_spark_dataset import OptionalSparkDataset
from .spark_ml_model_dataset import SparkMLModelDataset

__all__ = ["OptionalSparkDataset", "SparkMLModelDataset"]
