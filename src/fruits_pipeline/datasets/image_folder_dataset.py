"""``ImageFolderDataset``: a folder of photos (local or S3) as a Spark DataFrame."""

from __future__ import annotations

import logging
import posixpath
from collections import Counter
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from py4j.protocol import Py4JJavaError
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from fruits_pipeline.errors import UserError

from .hadoop_fs import hadoop_filesystem, shown_path, spark_uri, storage_error

logger = logging.getLogger(__name__)

# The one suffix rule: .jpg and .jpeg in any letter case.
IMAGE_SUFFIXES = (".jpg", ".jpeg")
IMAGE_GLOB = "*.{[jJ][pP][gG],[jJ][pP][eE][gG]}"
SPLITS = {"training": "Training", "test": "Test"}
COLUMNS = ["path", "label", "split", "size_bytes", "modified", "source", "family", "content"]
LABEL_KINDS = ("class", "family")


def is_hidden(name: str) -> bool:
    """Spark's file index rule (``shouldFilterOutPathName``) for a file or folder name."""
    if name.startswith(("_metadata", "_common_metadata")):
        return False
    return (
        (name.startswith("_") and "=" not in name)
        or name.startswith(".")
        or (name.endswith("._COPYING_"))
    )


def list_folder(root: str) -> tuple[int, Counter] | None:
    """(image files, Counter of ignored kinds) below ``root``; None if it does not exist.

    A file under a hidden folder is hidden, as in Spark's listing, so both agree.
    """
    path, filesystem = hadoop_filesystem(root)
    if not filesystem.exists(path):
        return None
    prefix = filesystem.makeQualified(path).toString().rstrip("/") + "/"
    images, ignored = 0, Counter()
    files = filesystem.listFiles(path, True)
    while files.hasNext():
        relative = files.next().getPath().toString().removeprefix(prefix)
        if any(is_hidden(part) for part in relative.split("/")):
            ignored["hidden"] += 1
        elif relative.lower().endswith(IMAGE_SUFFIXES):
            images += 1
        else:
            ignored[posixpath.splitext(relative)[1].lower() or "no extension"] += 1
    return images, ignored


def label_and_split(
    path: Column, root_parts: int, label_depth: int | None
) -> tuple[Column, Column]:
    """The label rule (see ``ImageFolderDataset``) on ``path``, below a root of ``root_parts``
    "/"-separated parts as Spark spells paths (``file:/a/b`` has 3)."""
    parts = F.split(path, "/")
    # Folders between the root and the file name.
    folders = F.slice(parts, root_parts + 1, F.size(parts) - root_parts - 1)
    first = F.lower(F.try_element_at(folders, F.lit(1)))
    # A split folder counts only with a class folder below it.
    split = F.coalesce(
        *[F.when((F.size(folders) >= 2) & (first == n), F.lit(s)) for n, s in SPLITS.items()]
    )
    if label_depth is None:
        return F.lit(None).cast("string"), split
    index = F.when(split.isNull(), 0).otherwise(1) + label_depth
    label = F.when(index <= F.size(folders), F.element_at(folders, index))
    return label, split


class ImageFolderDataset(AbstractDataset[None, DataFrame]):
    """Photos below a folder, one row per ``.jpg``/``.jpeg``: path, label, split, size_bytes,
    modified, content (the bytes, read only when a query uses them).

    Label rule: below the folder, the first sub-folder is the split when it is named
    ``Training`` or ``Test`` (any case); the class is the ``label_depth``-th folder below
    that (below the folder itself when there is no split folder). So ``root/Training/Kiwi/
    a.jpg``, ``root/Kiwi/a.jpg`` and ``root/Test/Kiwi/close-up/a.jpg`` are all ``Kiwi``
    (depth 1). A photo with no folder at that depth gets a null label (the featurization
    rejects it with the reason); ``label_depth: null`` labels nothing (photos to predict).
    ``labels: family`` reads that folder as a family (``family`` column, null ``label``:
    such photos train the family head only); ``mapping`` renames folders to the project's
    class or family names (unmapped ones keep their name). ``source`` names the folder in
    the rows, the bundle and the per-source metrics.

    Hidden files and folders (``.x``, ``_x``) are skipped, as Spark's reader skips them.
    A missing folder, one without any image, or storage that refuses access stop the
    load with one message naming the folder and the fix; with ``optional: true`` a missing
    or empty folder loads as None instead (the node says what it does without it).

    Example:
        ```yaml
        raw_images:
          type: fruits_pipeline.datasets.ImageFolderDataset
          filepath: s3://bucket/data/01_raw/fruits-360
          label_depth: 1
        ```
    """

    def __init__(
        self,
        *,
        filepath: str,
        label_depth: int | None = 1,
        param: str = "run with --params input_path=/path/to/photos",
        optional: bool = False,
        source: str | None = None,
        labels: str = "class",
        mapping: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        if label_depth is not None and (not isinstance(label_depth, int) or label_depth < 1):
            raise UserError(
                f"parameter label_depth={label_depth!r}: must be an integer >= 1 (1 = the "
                "class is the first folder below the split folder)."
            )
        if labels not in LABEL_KINDS:
            raise UserError(
                f"source {source or filepath}: labels={labels!r}; expected one of "
                f"{', '.join(LABEL_KINDS)} (what its folder names are)."
            )
        self._filepath = spark_uri(filepath)
        self._source, self._labels, self._mapping = source, labels, dict(mapping or {})
        self._label_depth = label_depth
        self._param = param  # how to point the dataset elsewhere (in the error message)
        self._optional = optional
        self._present: bool | None = None  # the folder is listed once per run, at first load
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath, "label_depth": self._label_depth, "source": self._source,
            "labels": self._labels,
        }  # fmt: skip

    def _shown(self) -> str:
        return self._filepath.removeprefix("file:")

    def _check_folder(self) -> bool:
        hint = (
            "Put the photos there (Training/<Class>/*.jpg, Test/<Class>/*.jpg, or "
            f"<Class>/*.jpg) or {self._param}."
        )
        try:
            listing = list_folder(self._filepath)
        except Py4JJavaError as error:
            raise storage_error(self._shown(), error, "list input folder") from None
        problem = (
            "does not exist"
            if listing is None
            else "has no .jpg/.jpeg file"
            if listing[0] == 0
            else None
        )
        if problem and self._optional:
            logger.info(
                "Folder %s %s: optional, the run goes on without it", self._shown(), problem
            )
            return False
        if problem:
            raise UserError(f"Input folder {self._shown()} {problem}. {hint}")
        images, ignored = listing
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(ignored.items()))
        logger.info(
            "input %s: %d images%s", shown_path(self._shown()), images,
            f", {kinds} ignored" if kinds else "",
        )  # fmt: skip
        return True

    def load(self) -> DataFrame | None:
        if self._present is None:
            self._present = self._check_folder()
        if not self._present:
            return None
        spark = SparkSession.builder.getOrCreate()
        files = (
            spark.read.format("binaryFile")
            .option("recursiveFileLookup", "true")
            .option("pathGlobFilter", IMAGE_GLOB)
            .load(self._filepath)
        )
        path, filesystem = hadoop_filesystem(self._filepath)
        root = filesystem.makeQualified(path).toString().rstrip("/")
        folder, split = label_and_split(F.col("path"), len(root.split("/")), self._label_depth)
        if self._mapping:
            renamed = F.create_map(*[F.lit(x) for pair in self._mapping.items() for x in pair])
            folder = F.coalesce(renamed[folder], folder)
        none = F.lit(None).cast("string")
        label, family = (none, folder) if self._labels == "family" else (folder, none)
        return files.select(
            "path",
            label.alias("label"),
            split.alias("split"),
            F.col("length").alias("size_bytes"),
            F.col("modificationTime").alias("modified"),
            F.lit(self._source).cast("string").alias("source"),
            family.alias("family"),
            "content",
        )

    def save(self, data: DataFrame) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only: photos are the input.")
