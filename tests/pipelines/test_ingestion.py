"""The image folder dataset (listing, label rule, checks) and the split node, on real images."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fruits_pipeline.datasets import ImageSourcesDataset
from fruits_pipeline.datasets.image_folder_dataset import list_folder
from fruits_pipeline.pipelines.ingestion.nodes import holdout_size, split_images
from tests.conftest import load_images, sample_files, user_error


def _place(root: Path, relative: str, source: Path) -> None:
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)


def _labels(frame, root: Path) -> dict[str, tuple]:
    rows = frame.select("path", "label", "split").collect()
    return {r.path.split(str(root) + "/", 1)[1]: (r.label, r.split) for r in rows}


def test_labels_and_splits_from_folders(spark, tmp_path):
    kiwi = sample_files("Training", "Kiwi")
    layout = {
        "Training/Apple Red 1/a.jpg": ("Apple Red 1", "Training"),
        "Training/Apple Red 1/b.JPG": ("Apple Red 1", "Training"),
        "Test/Avocado ripe/c.jpeg": ("Avocado ripe", "Test"),
        "test/Kiwi/d.JPEG": ("Kiwi", "Test"),
        "Training/Pomme rôtie+1 %20/e.jpg": ("Pomme rôtie+1 %20", "Training"),
        "Training/Pear [big]/x.jpg": ("Pear [big]", "Training"),
        "Test/Kiwi/close-up/deep.jpg": ("Kiwi", "Test"),  # deeper nesting: class under split
        "Cherry/g.jpg": ("Cherry", None),  # flat: class below the root
        "loose.jpg": (None, None),  # no class folder: rejected by featurization
    }
    for i, relative in enumerate(layout):
        _place(tmp_path, relative, kiwi[i])
    # Not images, and hidden files/folders: ignored, as Spark's reader ignores them.
    (tmp_path / "Training" / "Apple Red 1" / "notes.txt").write_text("not an image")
    _place(tmp_path, "Training/Kiwi/h.png", kiwi[0])
    _place(tmp_path, ".cache/Training/Kiwi/hidden.jpg", kiwi[0])
    _place(tmp_path, "Training/_tmp/Kiwi/hidden.jpg", kiwi[0])
    _place(tmp_path, "Training/Kiwi/._fork.jpg", kiwi[0])

    images = load_images(tmp_path)
    assert _labels(images, tmp_path) == layout
    assert list_folder(str(tmp_path)) == (
        len(layout),
        {".txt": 1, ".png": 1, "hidden": 3},
    )  # the listing and Spark agree

    # Deeper rule: the class is the second folder below the split.
    deep = _labels(load_images(tmp_path, label_depth=2), tmp_path)
    assert deep["Test/Kiwi/close-up/deep.jpg"] == ("close-up", "Test")
    assert deep["Training/Apple Red 1/a.jpg"] == (None, "Training")


def test_image_rows_keep_bytes_and_file_facts(spark, small_sample):
    images = load_images(small_sample)
    assert images.columns == [
        "path", "label", "split", "size_bytes", "modified", "source", "family", "content"
    ]  # fmt: skip
    files = sorted(small_sample.rglob("*.jpg"))
    rows = {Path(r.path.removeprefix("file:")): r for r in images.collect()}
    assert sorted(rows) == files
    for path in files:
        row = rows[path]
        assert row.content == path.read_bytes()
        assert row.size_bytes == path.stat().st_size
        assert (row.label, row.split) == (path.parent.name, path.parent.parent.name)


@pytest.mark.parametrize("case", ["missing", "no_images"])
def test_bad_folder_is_one_clear_error(spark, tmp_path, case):
    folder = tmp_path / "photos"
    if case == "no_images":
        (folder / "Kiwi").mkdir(parents=True)
        (folder / "Kiwi" / "notes.txt").write_text("no photo here")
    problem = "does not exist" if case == "missing" else "has no .jpg/.jpeg file"
    message = user_error(load_images, folder)
    assert message.startswith(f"Input folder {folder} {problem}.")
    assert "--params input_path=" in message


def test_holdout_is_stratified_seeded_and_stable(spark, tmp_path):
    """A folder without Test: each class holds out its share, the same photos every time."""
    sizes = {"Kiwi": 10, "Lemon": 5, "Pear": 2, "Cherry": 1}
    for label, n in sizes.items():
        for i, source in enumerate(sample_files("Training", "Kiwi")[:n]):
            _place(tmp_path, f"{label}/{i}.jpg", source)
    images = load_images(tmp_path)

    labelled, summary = split_images(
        images, None, {"test_fraction": 0.2, "seed": 7}, str(tmp_path), {}
    )
    rows = labelled.select("path", "label", "split").collect()
    test = {label: sum(r.split == "Test" for r in rows if r.label == label) for label in sizes}
    assert test == {label: holdout_size(n, 0.2) for label, n in sizes.items()}
    assert test == {"Kiwi": 2, "Lemon": 1, "Pear": 1, "Cherry": 0}
    assert all(r.split in ("Training", "Test") for r in rows)
    assert summary["images"]["Test"] == test
    assert summary["images"]["Training"] == {k: sizes[k] - test[k] for k in sizes}
    assert summary["split"].startswith("holdout")

    again, _ = split_images(images, None, {"test_fraction": 0.2, "seed": 7}, str(tmp_path), {})
    assert sorted(again.select("path", "split").collect()) == sorted(
        (r.path, r.split) for r in rows
    )
    other, _ = split_images(images, None, {"test_fraction": 0.2, "seed": 8}, str(tmp_path), {})
    picked = {r.path for r in rows if r.split == "Test"}
    assert {r.path for r in other.collect() if r.split == "Test"} != picked


def test_test_folder_split_is_kept(spark, small_sample):
    labelled, summary = split_images(
        load_images(small_sample), None, {"test_fraction": 0.5, "seed": 1}, str(small_sample), {}
    )
    rows = labelled.select("path", "split").collect()
    assert all(r.path.split("/")[-3] == r.split for r in rows)
    assert summary["split"] == "folders"
    assert sum(summary["images"]["Test"].values()) == sum(r.split == "Test" for r in rows)


def test_a_family_labelled_source_is_split_on_its_own_and_keeps_its_families(
    spark, small_sample, tmp_path
):
    """Two sources from the sample: its class folders, and a second folder whose folder
    names are families (one renamed by the source's mapping)."""
    families = {"Apple Red 1": "Apple", "Kiwi": "Kiwi", "Avocado ripe": "Avocado"}
    second = tmp_path / "second"
    for label, family in families.items():
        for i, photo in enumerate(sample_files("Test", label)[-5:]):
            _place(second, f"{family.lower()}/{i}.jpg", photo)
    extra = ImageSourcesDataset(
        sources=[
            {
                "name": "second", "filepath": str(second), "labels": "family",
                "mapping": {"apple": "Apple", "kiwi": "Kiwi", "avocado": "Avocado"},
            }
        ]
    ).load()  # fmt: skip
    labelled, summary = split_images(
        load_images(small_sample).withColumn("source", F.lit("fruits360")),
        extra,
        {"test_fraction": 0.2, "seed": 3},
        str(small_sample),
        {"Avocado ripe": "Avocado"},
    )
    rows = labelled.select("path", "label", "family", "split", "source").collect()
    ours = [r for r in rows if r.source == "second"]
    assert len(ours) == 15 and all(r.label is None for r in ours)
    assert {r.family for r in ours} == {"Apple", "Kiwi", "Avocado"}
    # 5 photos per family, 20% held out: one each, chosen within the source.
    test = {f: sum(r.split == "Test" for r in ours if r.family == f) for f in families.values()}
    assert test == dict.fromkeys(families.values(), holdout_size(5, 0.2))
    assert summary["sources"]["second"]["Test"] == test
    assert summary["sources"]["second"]["Training"] == dict.fromkeys(families.values(), 4)
    # The class rows keep their folder split, and get their class's family.
    main = [r for r in rows if r.source == "fruits360"]
    assert all(r.path.split("/")[-3] == r.split for r in main)
    assert {(r.label, r.family) for r in main} == set(families.items())
    assert summary["split"] == "folders"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"name": "web", "filepath": "x", "labels": "fruit"}, "source web: labels='fruit'"),
        ({"name": "web", "path": "x"}, "extra source #1 (web): keys ['name', 'path']"),
    ],
)
def test_a_mistyped_source_is_one_line_naming_it(source, expected):
    message = user_error(ImageSourcesDataset, sources=[source])
    assert message.startswith(expected) and "\n" not in message


def test_a_missing_optional_source_is_skipped_and_a_required_one_named(spark, tmp_path):
    missing = {"name": "web", "filepath": str(tmp_path / "nowhere"), "labels": "family"}
    assert ImageSourcesDataset(sources=[{**missing, "optional": True}]).load() is None
    message = user_error(ImageSourcesDataset(sources=[missing]).load)
    assert f"{tmp_path / 'nowhere'} does not exist" in message and "extra_sources" in message
