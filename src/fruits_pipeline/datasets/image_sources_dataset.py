"""``ImageSourcesDataset``: more labelled photo folders beside the main input, as one frame."""

from __future__ import annotations

import posixpath
from functools import reduce
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from pyspark.sql import DataFrame

from fruits_pipeline.errors import UserError

from .image_folder_dataset import ImageFolderDataset

OPTIONAL_KEYS = {"labels", "label_depth", "mapping", "optional"}
SOURCE_KEYS = {"name", "filepath", *OPTIONAL_KEYS}


def _under(root: str | None, filepath: str) -> str:
    """A relative ``filepath`` is below ``root`` (the env's data root); absolute paths and
    URLs (``s3://...``) are taken as they are."""
    if root is None or "://" in filepath or posixpath.isabs(filepath):
        return filepath
    return posixpath.join(root, filepath)


class ImageSourcesDataset(AbstractDataset[None, DataFrame]):
    """Photo folders of other sources, each with its own label rule (an
    ``ImageFolderDataset`` per source), unioned with a ``source`` column; None when
    there are none (or every optional one is missing). A relative ``filepath`` is below
    ``root`` (the env's data root), so one list serves every env.

    Example:
        ```yaml
        extra_images:
          type: fruits_pipeline.datasets.ImageSourcesDataset
          root: ${globals:data_root}
          sources:
            - name: real_photos_train
              filepath: 01_raw/real_photos_train   # below root
              labels: family        # its folders are families (Apple/, Pear/, ...)
              mapping: {Nectarine: Peach}
              optional: true        # missing folder: the run goes on without it
        ```
    """

    def __init__(
        self, *, sources: list[dict[str, Any]] | None = None, root: str | None = None, metadata=None
    ):
        self._folders = []
        for i, source in enumerate(sources or []):
            unknown = sorted(set(source) - SOURCE_KEYS)
            if unknown or "name" not in source or "filepath" not in source:
                raise UserError(
                    f"extra source #{i + 1} ({source.get('name', '?')}): keys {sorted(source)}; "
                    f"expected name and filepath, optionally {sorted(OPTIONAL_KEYS)}."
                )
            folder = ImageFolderDataset(
                filepath=_under(root, str(source["filepath"])), source=source["name"],
                labels=source.get("labels", "class"), label_depth=source.get("label_depth", 1),
                mapping=source.get("mapping"), optional=source.get("optional", False),
                param="fix extra_sources in conf/<env>/globals.yml",
            )  # fmt: skip
            self._folders.append(folder)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"sources": [folder._describe() for folder in self._folders]}

    def load(self) -> DataFrame | None:
        frames = [frame for folder in self._folders if (frame := folder.load()) is not None]
        return reduce(DataFrame.unionByName, frames) if frames else None

    def save(self, data: DataFrame) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only: photos are the input.")
