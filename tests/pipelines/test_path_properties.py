"""Property-based: any folder name parses to the right label and split, in Spark."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fruits_pipeline.pipelines.ingestion.nodes import label_from_path, split_from_path

# Folder names as people write them: spaces, accents, '+', '%', dots; never '/'.
folder_names = st.text(
    alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=30,
).filter(lambda name: name not in {".", ".."})
split_folders = st.sampled_from(["Training", "Test", "training", "TEST", "Validation", "misc"])
EXPECTED_SPLIT = {"training": "Training", "test": "Test"}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(split_folders, folder_names, folder_names), min_size=1, max_size=40))
def test_label_is_parent_folder_and_split_is_grandparent(spark, rows):
    paths = [f"file:/data/{split}/{label}/{name}.jpg" for split, label, name in rows]
    frame = spark.createDataFrame([(p,) for p in paths], "path string")
    got = frame.select(
        "path",
        label_from_path(frame.path).alias("label"),
        split_from_path(frame.path).alias("split"),
    ).collect()
    expected = {
        path: (label, EXPECTED_SPLIT.get(split.lower()))
        for path, (split, label, _) in zip(paths, rows, strict=True)
    }
    assert {r.path: (r.label, r.split) for r in got} == expected
