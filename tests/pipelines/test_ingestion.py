"""Labels and splits parsed from real image paths, read through the catalog's binaryFile."""

from __future__ import annotations

import shutil
from pathlib import Path

from fruits_pipeline.pipelines.ingestion.nodes import label_images
from tests.conftest import load_images, sample_files


def _place(root: Path, relative: str, source: Path) -> None:
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)


def test_labels_and_splits_from_folders(spark, tmp_path):
    kiwi = sample_files("Training", "Kiwi")
    layout = {
        "Training/Apple Red 1/a.jpg": ("Apple Red 1", "Training"),
        "Training/Apple Red 1/b.JPG": ("Apple Red 1", "Training"),
        "Test/Avocado ripe/c.jpeg": ("Avocado ripe", "Test"),
        "test/Kiwi/d.JPEG": ("Kiwi", "Test"),
        "Training/Pomme rôtie+1 %20/e.jpg": ("Pomme rôtie+1 %20", "Training"),
        "unsorted/Cherry/f.jpg": ("Cherry", None),
        "Cherry/g.jpg": ("Cherry", None),
    }
    for i, relative in enumerate(layout):
        _place(tmp_path, relative, kiwi[i])
    # Not images: ignored by the catalog's filter.
    (tmp_path / "Training" / "Apple Red 1" / "notes.txt").write_text("not an image")
    _place(tmp_path, "Training/Kiwi/h.png", kiwi[0])

    rows = label_images(load_images(tmp_path)).select("path", "label", "split").collect()

    got = {r.path.split(str(tmp_path) + "/", 1)[1]: (r.label, r.split) for r in rows}
    assert got == layout


def test_label_images_keeps_bytes_and_file_facts(spark, small_sample):
    labelled = label_images(load_images(small_sample))
    assert labelled.columns == [
        "path", "label", "split", "size_bytes", "modificationTime", "content"
    ]  # fmt: skip
    files = sorted(small_sample.rglob("*.jpg"))
    rows = {Path(r.path.removeprefix("file:")): r for r in labelled.collect()}
    assert sorted(rows) == files
    for path in files:
        row = rows[path]
        assert row.content == path.read_bytes()
        assert row.size_bytes == path.stat().st_size
        assert (row.label, row.split) == (path.parent.name, path.parent.parent.name)
