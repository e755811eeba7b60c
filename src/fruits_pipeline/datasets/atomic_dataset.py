"""``AtomicDataset``: a single-file dataset whose local saves are all-or-nothing."""

from __future__ import annotations

import os
import uuid
from copy import deepcopy
from typing import Any

from kedro.io import AbstractDataset
from kedro.io.core import get_protocol_and_path, parse_dataset_definition
from kedro_datasets._typing import TablePreview


class AtomicDataset(AbstractDataset[Any, Any]):
    """Wraps a file dataset (CSV, JSON, PNG, ...): a reader never sees half a file.

    On a local disk the wrapped dataset writes to a temporary name beside the target,
    which is then renamed over it (``os.replace`` is atomic on POSIX). On S3 the wrapped
    dataset's single PUT is already atomic, so it writes in place.

    Example:
        ```yaml
        rejected_images:
          type: fruits_pipeline.datasets.AtomicDataset
          dataset: {type: pandas.CSVDataset, save_args: {index: false}}
          filepath: data/08_reporting/rejected_images.csv
        ```
    """

    def __init__(self, *, dataset: dict[str, Any], filepath: str, metadata=None):
        self._config = deepcopy(dataset)
        self._filepath = filepath
        self._protocol, _ = get_protocol_and_path(filepath)
        self._dataset = self._make(filepath)
        self.metadata = metadata

    def _make(self, filepath: str) -> AbstractDataset:
        dataset_class, kwargs = parse_dataset_definition({**self._config, "filepath": filepath})
        return dataset_class(**kwargs)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "dataset": self._config.get("type")}

    def load(self) -> Any:
        return self._dataset.load()

    def save(self, data: Any) -> None:
        if self._protocol != "file":
            self._dataset.save(data)
            return
        folder, name = os.path.split(os.path.abspath(self._filepath))
        os.makedirs(folder, exist_ok=True)
        partial = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            self._make(partial).save(data)
            os.replace(partial, os.path.join(folder, name))
        finally:
            if os.path.exists(partial):
                os.remove(partial)

    def _exists(self) -> bool:
        return self._dataset.exists()

    def preview(self, nrows: int = 5) -> TablePreview:
        """kedro-viz: the wrapped table dataset's preview (the CSVs here)."""
        return self._dataset.preview(nrows=nrows)
