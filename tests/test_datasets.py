"""The project's datasets: versions count only once complete; bundles load whole; atomic files."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError
from kedro.io.core import Version
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import PCA, StandardScaler
from pyspark.ml.linalg import Vectors

from fruits_pipeline.artifacts import ModelBundle
from fruits_pipeline.datasets import (
    AtomicDataset,
    CommittedSparkDataset,
    ModelBundleDataset,
    OptionalSparkDataset,
    ReportFigureDataset,
    ReportJSONDataset,
    ReportMarkdownDataset,
    ReportTableDataset,
)
from fruits_pipeline.hooks import prune_versions
from tests.conftest import user_error


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
    # kedro-viz's preview (pyarrow, no Spark) sees what a reader sees.
    preview = CommittedSparkDataset(filepath=filepath, file_format="parquet").preview
    assert preview(columns=["tag"]) == {"index": [0], "columns": ["tag"], "data": [["old"]]}

    # Once a run commits, readers switch to it as a whole.
    save(filepath, "2026-03-01T00.00.00.000Z", new)
    assert [row.tag for row in latest(filepath).collect()] == ["new"]
    assert preview()["data"] == [[2, "new"]]


def test_optional_input_is_none_until_a_version_is_committed(spark, tmp_path):
    filepath = str(tmp_path / "stored.parquet")
    assert latest(filepath, OptionalSparkDataset) is None
    save(filepath, "2026-01-01T00.00.00.000Z", spark.createDataFrame([(1,)], "id int"))
    assert latest(filepath, OptionalSparkDataset).count() == 1


def small_bundle(spark, featurizer, classified: bool = True) -> ModelBundle:
    """A real bundle: scaler + PCA (and a classifier) fitted on 24 random 8-d rows."""
    rng = np.random.default_rng(0)
    rows = [(Vectors.dense(rng.normal(size=8)), float(i % 2)) for i in range(24)]
    frame = spark.createDataFrame(rows, ["features_scaled_in", "label_index"])
    reduction = Pipeline(
        stages=[
            StandardScaler(inputCol="features_scaled_in", outputCol="scaled", withMean=True),
            PCA(k=2, inputCol="scaled", outputCol="pca"),
        ]
    ).fit(frame)
    classifier = None
    if classified:
        classifier = Pipeline(
            stages=[LogisticRegression(featuresCol="pca", labelCol="label_index", maxIter=5)]
        ).fit(reduction.transform(frame))
    manifest = {"classes": ["a", "b"] if classified else [], "reports": ["summary.md"]}
    return ModelBundle(featurizer, reduction, classifier, manifest, {"summary.md": b"# run"})


def test_bundle_round_trip_and_only_complete_bundles_load(spark, tmp_path, tflite_featurizer):
    filepath = str(tmp_path / "model_bundle")

    def dataset(version=None, model_version=None):
        return ModelBundleDataset(
            filepath=filepath, version=Version(None, version), model_version=model_version
        )

    assert "run `kedro run`" in user_error(dataset().load)
    dataset("2026-01-01T00.00.00.000Z").save(small_bundle(spark, tflite_featurizer))
    # A later run died while writing: no _SUCCESS, never loaded.
    dataset("2026-02-01T00.00.00.000Z").save(small_bundle(spark, tflite_featurizer, False))
    (tmp_path / "model_bundle" / "2026-02-01T00.00.00.000Z" / "model_bundle" / "_SUCCESS").unlink()

    loaded = dataset().load()
    assert loaded.version == "2026-01-01T00.00.00.000Z"
    assert json.loads(dataset().preview())["version"] == loaded.version  # kedro-viz's view
    assert loaded.featurizer == tflite_featurizer
    assert loaded.featurizer.payload == tflite_featurizer.payload
    assert loaded.featurizer.fingerprint == tflite_featurizer.fingerprint
    assert loaded.reports == {"summary.md": b"# run"} and loaded.k == 2
    assert loaded.classifier is not None

    named = user_error(dataset(model_version="2026-02-01T00.00.00.000Z").load)
    assert "no complete model bundle of that version" in named
    assert "2026-01-01T00.00.00.000Z" in named  # the versions there are

    # Corrupt: complete marker, but the manifest is gone.
    (
        tmp_path / "model_bundle" / "2026-01-01T00.00.00.000Z" / "model_bundle" / "manifest.json"
    ).unlink()
    assert "is corrupt or incomplete" in user_error(dataset().load)


def test_atomic_save_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "rejected.csv"
    dataset = AtomicDataset(
        dataset={"type": "pandas.CSVDataset", "save_args": {"index": False}}, filepath=str(target)
    )
    dataset.save(pd.DataFrame({"path": ["a.jpg"], "reason": ["empty"]}))
    before = target.read_bytes()
    with pytest.raises(DatasetError):
        dataset.save(pd.DataFrame({"path": [object()], "reason": [BrokenStr()]}))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rejected.csv"]  # no temp file left


def test_report_previews_are_the_newest_complete_bundle_s_files(tmp_path):
    root = tmp_path / "model_bundle"
    figure = ReportFigureDataset(bundle=str(root), report="plot.png", copy_mode="assign")
    with pytest.raises(DatasetError, match="run `kedro run` first"):
        figure.preview()
    for version, accuracy, complete in (("2026-01-01", 0.9, True), ("2026-02-01", 0.1, False)):
        reports = root / version / "model_bundle" / "reports"
        reports.mkdir(parents=True)
        (reports / "metrics.json").write_text(json.dumps({"accuracy": accuracy}))
        (reports / "variance.csv").write_text(f"component,ratio\n1,{accuracy}\n2,0.05\n")
        (reports / "plot.png").write_bytes(b"\x89PNG" + version.encode())
        if complete:
            (root / version / "model_bundle" / "_SUCCESS").touch()

    # The run that died before its _SUCCESS (2026-02-01) is never shown.
    assert base64.b64decode(figure.preview()) == b"\x89PNG2026-01-01"
    metrics = ReportJSONDataset(bundle=str(root), report="metrics.json")
    assert json.loads(metrics.preview()) == {"accuracy": 0.9}
    table = ReportTableDataset(bundle=str(root), report="variance.csv")
    assert table.preview(nrows=1) == {
        "index": [0], "columns": ["component", "ratio"], "data": [[1, 0.9]]
    }  # fmt: skip
    (root / "2026-01-01" / "model_bundle" / "reports" / "summary.md").write_text(
        "# run\n\n| true class | images |\n|---|---:|\n| Kiwi | 2 |\n"
    )
    summary = ReportMarkdownDataset(bundle=str(root), report="summary.md").preview()
    assert "<h1>run</h1>" in summary and "<td>Kiwi</td>" in summary  # the table, as HTML
    # In a run they are memory: what a node saved is what the next one loads, as is.
    drawn = object()
    figure.save(drawn)
    assert figure.load() is drawn


def test_atomic_preview_is_the_wrapped_table(tmp_path):
    dataset = AtomicDataset(dataset={"type": "pandas.CSVDataset"}, filepath=str(tmp_path / "r.csv"))
    dataset.save(pd.DataFrame({"path": ["a.jpg", "b.jpg"], "reason": ["empty", "truncated"]}))
    assert dataset.preview(nrows=1)["data"] == [["a.jpg", "empty"]]


class BrokenStr:
    def __str__(self):
        raise OSError("disk full")


def test_prune_keeps_the_newest_and_the_protected_versions(spark, tmp_path):
    root = tmp_path / "features.parquet"
    versions = [f"2026-0{month}-01T00.00.00.000Z" for month in range(1, 7)]
    for version in versions:
        (root / version / "features.parquet").mkdir(parents=True)
    pruned = prune_versions(str(root), keep=2, protected={versions[0]})
    assert pruned == [versions[3], versions[2], versions[1]]
    assert sorted(p.name for p in root.iterdir()) == [versions[0], *versions[4:]]
    assert prune_versions(str(tmp_path / "never_written"), keep=2, protected=set()) == []
