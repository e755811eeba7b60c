"""Datasets kedro-datasets does not have."""

from .atomic_dataset import AtomicDataset
from .files_folder_dataset import FilesFolderDataset
from .image_folder_dataset import ImageFolderDataset
from .image_sources_dataset import ImageSourcesDataset
from .model_bundle_dataset import ModelBundleDataset
from .optional_spark_dataset import OptionalSparkDataset
from .previews import (
    ReportFigureDataset,
    ReportJSONDataset,
    ReportMarkdownDataset,
    ReportTableDataset,
)
from .spark_csv_file_dataset import SparkCSVFileDataset
from .versioned_spark_dataset import CommittedSparkDataset
from .weights_file_dataset import WeightsFileDataset

__all__ = [
    "AtomicDataset",
    "CommittedSparkDataset",
    "FilesFolderDataset",
    "ImageFolderDataset",
    "ImageSourcesDataset",
    "ModelBundleDataset",
    "OptionalSparkDataset",
    "ReportFigureDataset",
    "ReportJSONDataset",
    "ReportMarkdownDataset",
    "ReportTableDataset",
    "SparkCSVFileDataset",
    "WeightsFileDataset",
]
