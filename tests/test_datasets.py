"""The project's datasets: versions count only once complete; missing optional input is None."""

from __future__ import annotations

from kedro.io.core import Version

from fruits_pipeline.datasets import CommittedSparkDataset, OptionalSparkDataset


def save(filepath: str, version: str, frame) -> None:
    CommittedSparkDataset(filepath=filepath, version=Version(None, version)).save(frame)


def latest(filepath: str, dataset=CommittedSparkDataset):
    return dataset(filepath=filepath, version=Version(None, None)).load()


def test_a_reader_never_sees_an_uncommitted_version(spark, tmp_path):
    filepath = str(tmp_path / "features.parquet")
    old = spark.createDataFrame([(1, "old")], "id int, tag string")
    new = spark.createDataFrame([(2, "new")], "id int, tag string")
    save(filepath, "2026-01-01T00.00.00.000Z", old)
    # A later run died mid-write: its folder has part files but no _SUCCESS.
    save(filepath, "2026-02-01T00.00.00.000Z", new)
    died = tmp_path / "features.parquet" / "2026-02-01T00.00.00.000Z" / "features.parquet"
    assert any(died.glob("part-*"))
    (died / "_SUCCESS").unlink()
    assert [row.tag for row in latest(filepath).collect()] == ["old"]

    # Once a run commits, readers switch to it as a whole.
    save(filepath, "2026-03-01T00.00.00.000Z", new)
    assert [row.tag for row in latest(filepath).collect()] == ["new"]


def test_optional_input_is_none_until_a_version_is_committed(spark, tmp_path):
    filepath = str(tmp_path / "stored.parquet")
    assert latest(filepath, OptionalSparkDataset) is None
    save(filepath, "2026-01-01T00.00.00.000Z", spark.createDataFrame([(1,)], "id int"))
    assert latest(filepath, OptionalSparkDataset).count() == 1
