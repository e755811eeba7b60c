"""Property-based: any mix of good and junk files reconciles - seen = featurized + rejected."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import featurize_folder, sample_files

GOOD = [path.read_bytes() for path in sample_files("Training", "Kiwi")[:3]]
JUNK = {
    "empty": b"",
    "text": b"not a photo\n",
    "truncated": GOOD[0][: len(GOOD[0]) // 4],
}
# One file: (class folder, good photo index or junk kind, extension spelling).
files = st.lists(
    st.tuples(
        st.sampled_from(["Kiwi", "Pear 2", "Café"]),
        st.one_of(st.integers(0, len(GOOD) - 1), st.sampled_from(sorted(JUNK))),
        st.sampled_from([".jpg", ".JPG", ".jpeg"]),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mix=files)
def test_every_file_is_featurized_or_rejected_once(spark, weights_path, mix):
    with tempfile.TemporaryDirectory() as root:
        expected_good, expected_junk = set(), set()
        for i, (label, kind, suffix) in enumerate(mix):
            folder = Path(root) / "Training" / label
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{i}_{kind}{suffix}"
            (folder / name).write_bytes(GOOD[kind] if isinstance(kind, int) else JUNK[kind])
            (expected_good if isinstance(kind, int) else expected_junk).add(f"{label}/{name}")

        features, rejected = featurize_folder(
            Path(root), {"weights": weights_path, "batch_size": 2}
        )
        tail = lambda path: "/".join(path.split("/")[-2:])  # noqa: E731
        featurized = [tail(row.path) for row in features.select("path").collect()]
        rejected_paths = list(rejected["path"].map(tail))
        assert len(featurized) + len(rejected_paths) == len(mix)
        assert sorted(featurized) == sorted(expected_good)
        assert sorted(rejected_paths) == sorted(expected_junk)
