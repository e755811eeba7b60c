"""Property-based: any folder names parse to the right label and split, in Spark."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from fruits_pipeline.datasets.image_folder_dataset import label_and_split

# Folder names as people write them: spaces, accents, '+', '%', dots; never '/'.
folder_names = st.text(
    alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=30,
).filter(lambda name: name not in {".", ".."})
split_folders = st.sampled_from(["Training", "Test", "training", "TEST", "Validation", "misc"])
SPLITS = {"training": "Training", "test": "Test"}


def expected(folders: list[str], depth: int) -> tuple[str | None, str | None]:
    """The documented rule, written independently of the Spark expression."""
    split = SPLITS.get(folders[0].lower()) if len(folders) >= 2 else None
    below = folders[1:] if split else folders
    return (below[depth - 1] if depth <= len(below) else None), split


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(st.lists(st.one_of(split_folders, folder_names), max_size=4), folder_names),
        min_size=1,
        max_size=30,
    ),
    depth=st.integers(1, 3),
)
def test_label_is_the_folder_at_depth_below_the_split(spark, rows, depth):
    paths = [
        "/".join(["file:", "data", "photos", *folders, f"{name}.jpg"]) for folders, name in rows
    ]
    frame = spark.createDataFrame([(p,) for p in paths], "path string")
    label, split = label_and_split(F.col("path"), root_parts=3, label_depth=depth)
    got = {
        r.path: (r.label, r.split)
        for r in frame.select("path", label.alias("label"), split.alias("split")).collect()
    }
    assert got == {
        path: expected(folders, depth) if folders else (None, None)
        for path, (folders, _) in zip(paths, rows, strict=True)
    }
