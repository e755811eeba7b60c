"""``FilesFolderDataset``: a local folder of named files, replaced all-or-nothing."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import get_protocol_and_path

logger = logging.getLogger(__name__)


class FilesFolderDataset(AbstractDataset[dict[str, bytes], dict[str, bytes]]):
    """``{file name: bytes}`` <-> the files of one local folder.

    A save writes every file into a new folder ``<name>.<stamp>`` beside ``path``, then points the
    symlink ``path`` at it with one ``os.replace`` (atomic on POSIX): a reader sees the old
    folder or the new one, never a mix, and a save that fails leaves the old one. The
    folder it replaced is removed afterwards. An empty dict saves nothing (the old folder,
    if any, stays).

    Example:
        ```yaml
        app_model:
          type: fruits_pipeline.datasets.FilesFolderDataset
          path: data/07_model_output/app_model
        ```
    """

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None):
        self._protocol, _ = get_protocol_and_path(path)
        self._path = Path(os.path.abspath(path)) if self._protocol == "file" else Path(path)
        self._uri = path
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": self._uri}

    def load(self) -> dict[str, bytes]:
        if not self._path.is_dir():
            raise DatasetError(f"{self._path} does not exist: run `kedro run` first")
        return {p.name: p.read_bytes() for p in sorted(self._path.iterdir()) if p.is_file()}

    def save(self, data: dict[str, bytes]) -> None:
        if not data:
            return
        if self._protocol != "file":
            logger.warning(
                "%s not written: this dataset writes to a local disk only; run "
                "`kedro run --env local` (or copy the bundle and export there)",
                self._uri,
            )
            return
        parent = self._path.parent
        parent.mkdir(parents=True, exist_ok=True)
        stamp = uuid.uuid4().hex[:12]
        # Not hidden: `make clean-outputs` (data/07_model_output/*) removes it too.
        folder = parent / f"{self._path.name}.{stamp}"
        link = parent / f".{self._path.name}.{stamp}.link"
        try:
            folder.mkdir()
            for name, content in data.items():
                (folder / name).write_bytes(content)
            previous = os.readlink(self._path) if self._path.is_symlink() else None
            if self._path.exists() and previous is None:  # a real folder from elsewhere
                raise DatasetError(
                    f"{self._path} is a folder, not the link this dataset writes: move it "
                    "away, then rerun"
                )
            os.symlink(folder.name, link)  # relative: the data folder can move
            os.replace(link, self._path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            if link.is_symlink():
                link.unlink()
        if previous is not None and previous != folder.name:
            shutil.rmtree(parent / previous, ignore_errors=True)

    def _exists(self) -> bool:
        return self._path.is_dir()
