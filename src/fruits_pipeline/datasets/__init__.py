"""Datasets kedro-datasets does not have."""

from .spark_ml_model_dataset import SparkMLModelDataset

__all__ = ["SparkMLModelDataset"]
