"""What kedro-viz previews: the newest complete output, read without a Spark session.

kedro-viz calls a dataset's ``preview()`` (kedro-datasets' convention; the return
annotation says how the page draws it). Outputs here are versioned folders, complete
once ``_SUCCESS`` is written, so a preview reads the newest complete one through fsspec.
"""

from __future__ import annotations

import base64
import io
import posixpath
from typing import Any

import fsspec
import pandas as pd
from kedro.io import DatasetError, MemoryDataset
from kedro_datasets._typing import HTMLPreview, ImagePreview, JSONPreview, TablePreview
from markdown_it import MarkdownIt

from .hadoop_fs import COMPLETE_MARKER


def newest_complete(root: str) -> tuple[Any, str]:
    """(filesystem, path) of the newest ``<root>/<version>/<name>/`` holding ``_SUCCESS``."""
    filesystem, path = fsspec.core.url_to_fs(root)
    path = path.rstrip("/")
    done = sorted(filesystem.glob(f"{path}/*/{posixpath.basename(path)}/{COMPLETE_MARKER}"))
    if not done:
        raise DatasetError(f"nothing complete under {root} yet: run `kedro run` first")
    return filesystem, posixpath.dirname(done[-1])


def frame_preview(frame: pd.DataFrame) -> TablePreview:
    return TablePreview(frame.to_dict(orient="split"))


class ReportDataset(MemoryDataset):
    """A report handed on in memory during a run; kedro-viz previews its published copy.

    The run publishes every report inside the model bundle (all or none), so a preview
    reads ``reports/<report>`` of the newest complete bundle under ``bundle``: the last
    published run's figure, table or JSON. The subclasses differ only in how the page
    draws it.

    Example:
        ```yaml
        pca_scatter:
          type: fruits_pipeline.datasets.ReportFigureDataset
          bundle: data/06_models/model_bundle
          report: pca_scatter.png
          copy_mode: assign
        ```
    """

    def __init__(
        self,
        *,
        bundle: str,
        report: str,
        copy_mode: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(copy_mode=copy_mode, metadata=metadata)
        self._bundle = bundle
        self._report = report

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": f"{self._bundle}/<newest>/reports/{self._report}",
            **super()._describe(),
        }

    def published(self) -> bytes:
        """The report's bytes in the newest complete bundle."""
        filesystem, bundle = newest_complete(self._bundle)
        return filesystem.cat_file(f"{bundle}/reports/{self._report}")


class ReportFigureDataset(ReportDataset):
    """A matplotlib figure; previewed as its published PNG."""

    def preview(self) -> ImagePreview:
        return ImagePreview(base64.b64encode(self.published()).decode("ascii"))


class ReportTableDataset(ReportDataset):
    """A pandas table; previewed as the first rows of its published CSV."""

    def preview(self, nrows: int = 5) -> TablePreview:
        return frame_preview(pd.read_csv(io.BytesIO(self.published()), nrows=nrows))


class ReportMarkdownDataset(ReportDataset):
    """A markdown text (summary.md); previewed as HTML (markdown-it, which rich brings)."""

    def preview(self) -> HTMLPreview:
        return HTMLPreview(
            MarkdownIt("commonmark").enable("table").render(self.published().decode())
        )


class ReportJSONDataset(ReportDataset):
    """A dict of metrics; previewed as its published JSON."""

    def preview(self) -> JSONPreview:
        return JSONPreview(self.published().decode("utf-8"))
