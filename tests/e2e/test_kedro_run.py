"""``kedro run --env local`` over real classes, checked from the files it writes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.framework.project import configure_project
from mlflow.tracking import MlflowClient
from PIL import Image

from fruits_pipeline.backgrounds import background_role
from fruits_pipeline.pipeline_registry import register_pipelines
from tests.conftest import SAMPLE, SHARED, copy_subset, newest_file, newest_version, sample_files
from tests.e2e.conftest import WITHOUT_APP_EXPORT, kedro, make_project_copy, project_env
from tests.network_probe import outside_hosts, probed_env

pytestmark = pytest.mark.e2e

CLASSES = sorted(p.name for p in (SAMPLE / "Training").iterdir())[:10]


def run_predict(project: Path, *photos: str) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).with_name("fruits-predict")
    return subprocess.run(
        [str(cli), "--project", str(project), *photos], env=project_env(), capture_output=True,
        text=True, timeout=600, check=False, cwd=project.parent,
    )  # fmt: skip


def kedro_fails(project: Path, *args: str, env: dict | None = None) -> str:
    """Run kedro expecting a user error: exit 2, no traceback; the output, unwrapped."""
    kedro_cli = Path(sys.executable).with_name("kedro")
    result = subprocess.run(
        [str(kedro_cli), *args], cwd=project, env={**project_env(), **(env or {})},
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output and "│" not in output, output[-3000:]  # no rich traceback
    return output


# The JVM's own line whenever Spark 4's launcher adds the jdk.incubator.vector module; no
# setting of Spark or log4j reaches it.
JVM_INCUBATOR_NOTICE = "WARNING: Using incubator modules: jdk.incubator.vector"


def assert_quiet_log_with_summary(output: str, manifest: dict, n_images: int) -> None:
    """No warning of any kind (deprecations, Spark WARN, TensorFlow banners), the closing
    run summary table with this run's numbers, and (at 80 columns) one screen: at most
    40 lines from Kedro's start line."""
    logged = output.splitlines()
    start = next(i for i, line in enumerate(logged) if "Kedro project fruits_pipeline" in line)
    assert len(logged) - start <= 40, "\n".join(logged[start:])
    assert max(map(len, logged[start:])) <= 80
    lines = [line for line in logged if line.strip() != JVM_INCUBATOR_NOTICE]
    noisy = [line for line in lines if "WARN" in line or "Warning" in line or "oneDNN" in line]
    assert noisy == []
    table = lines[[i for i, line in enumerate(lines) if line.strip() == "run summary"][-1] :]
    rows = {
        cells[0]: cells[1]
        for cells in ([c.strip() for c in line.strip("│ ").split("│")] for line in table)
        if len(cells) == 2
    }
    assert rows["images seen"] == str(n_images)
    assert rows["featurized / rejected"] == f"{n_images} / 0"
    assert rows["classes"] == str(len(manifest["classes"]))
    assert rows["PCA k / variance kept"].startswith(f"{manifest['k']} / ")
    accuracy = f"{manifest['metrics']['accuracy']:.2%}"
    assert rows["Test accuracy / macro F1"].startswith(accuracy)
    assert rows["bundle version"] == manifest["version"]
    assert rows["featurize rate"].endswith(f"img/s ({n_images} new images)")


def files(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` but hidden ones (Hadoop's checksums): relative path -> bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
    }  # fmt: skip


def assert_mlflow_run_records_the_bundle(project: Path, bundle: Path, output: str) -> None:
    """The run's MLflow run, read back from the project's own store: the bundle's metrics,
    the run's parameters, its version tag, and its reports and files as artifacts."""
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("fruits_pipeline")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "__default__"
    shown = [line for line in output.splitlines() if "mlflow" in line.lower() or "alembic" in line]
    assert len(shown) == 1 and f"{run.info.run_id} (make mlflow)" in shown[0]  # summary row only

    metrics = json.loads((bundle / "reports" / "classification_metrics.json").read_text())
    manifest = json.loads((bundle / "manifest.json").read_text())
    logged = run.data.metrics
    for name in ("accuracy", "macro_f1", "n_test_images"):
        assert logged[name] == metrics[name], name
    k = manifest["k"]
    variance = pd.read_csv(bundle / "reports" / "explained_variance.csv")["cumulative"]
    assert logged["k"] == k and logged["variance_kept"] == pytest.approx(variance[k - 1])
    assert logged["classes"] == len(manifest["classes"])
    assert (logged["images_seen"], logged["images_featurized"], logged["images_rejected"]) == (
        70, 70, 0
    )  # fmt: skip
    assert logged["featurize_img_per_s"] > 0
    assert logged["unknown_test_answered"] == manifest["unknown"]["test_answered"]
    assert run.data.tags["bundle_version"] == manifest["version"]

    params = run.data.params  # kedro-mlflow's: every node's parameters, flattened
    reduction = yaml.safe_load((project / "conf/base/parameters_reduction.yml").read_text())
    threshold = reduction["reduction"]["variance_threshold"]
    assert params["reduction.variance_threshold"] == str(threshold)
    assert params["featurization.backend"] == "tflite" and params["unknown.accept"] == "0.98"

    # Artifacts in the project's mlruns/: the reports, and the rest of the bundle, byte-equal.
    artifacts = Path(run.info.artifact_uri.removeprefix("file://"))
    assert artifacts.is_relative_to(project / "mlruns")
    assert files(artifacts / "reports") == files(bundle / "reports")
    rest = {name: data for name, data in files(bundle).items() if not name.startswith("reports/")}
    assert files(artifacts / "model_bundle") == rest
    assert {"manifest.json", "featurizer.tflite", "head.npz", "classifier/metadata/_SUCCESS"} <= (
        set(rest)
    )


def bundles(project: Path) -> list[Path]:
    """Complete model bundles, oldest first."""
    root = project / "data" / "06_models" / "model_bundle"
    return sorted(p.parent for p in root.glob("*/model_bundle/_SUCCESS"))


def predictions_csv(project: Path, photos: Path, *params: str) -> pd.DataFrame:
    kedro(
        project, "run", "--pipelines", "prediction",
        "--params", ",".join([f"predict_path={photos}", *params]),
    )  # fmt: skip
    return pd.read_csv(project / "data" / "07_model_output" / "predictions.csv")


def assert_same_predictions(after: pd.DataFrame, before: pd.DataFrame) -> None:
    """Equal, probabilities to 1e-12: native BLAS may differ in the last bit between runs."""
    pd.testing.assert_frame_equal(after, before, check_exact=False, rtol=1e-12, atol=0)


def test_kedro_run_local_writes_one_bundle_and_prediction_reads_it(  # noqa: PLR0915
    project_copy, tmp_path, weights_path
):
    # The inputs below the project's data/, as `make run` has them (the log shows them
    # relative, as a user sees them).
    raw = project_copy / "data" / "01_raw"
    images = copy_subset(raw / "fruits", CLASSES, {"Training": 4, "Test": 2})
    expected = pd.Series([p.parent.name for p in images.rglob("*.jpg")]).value_counts().sort_index()
    assert len(expected) == 10 and expected.sum() == 60

    nofruit = raw / "backgrounds"
    nofruit.mkdir()
    roles = {"calibration": [], "check": []}
    for photo in sorted((SHARED / "data" / "backgrounds" / "images").glob("*.jpg")):
        role = background_role(photo.name)
        if role in roles and len(roles[role]) < 8:
            roles[role].append(shutil.copy(photo, nofruit / photo.name))
    # A second source labelled by family (real photos; Kiwi is no class of the first).
    second = raw / "second"
    for family in ("Apple", "Kiwi"):
        (second / family).mkdir(parents=True)
        for photo in sorted((SHARED / "data/real_photos_train/photos" / family).iterdir())[:5]:
            shutil.copy(photo, second / family / photo.name)
    with (project_copy / "conf/local/globals.yml").open("a") as globals_yml:
        globals_yml.write(
            f"extra_sources:\n  - {{name: second, filepath: {second}, labels: family}}\n"
        )
    # Probed: no opt-out variable set, and no host off this machine may be resolved.
    network_log = tmp_path / "network.log"
    run = kedro(
        project_copy, "run", "--env", "local",
        "--params", f"input_path={images},nofruit_path={nofruit}",
        # no opt-out variable set; the log must fit one 80 x 40 screen
        env={**probed_env(project_env(), network_log), "COLUMNS": "80"},
    )  # fmt: skip
    assert outside_hosts(network_log) == set()  # no telemetry (Kedro, MLflow), no other call

    data = project_copy / "data"
    every = pd.read_parquet(newest_version(data / "04_feature" / "image_features.parquet"))
    assert every["source"].value_counts().to_dict() == {"fruits360": 60, "second": 10}
    ours = every[every["source"] == "second"]
    assert ours["label"].isna().all() and ours["family"].value_counts().to_dict() == {
        "Apple": 5, "Kiwi": 5
    }  # fmt: skip
    features = every[every["source"] == "fruits360"]
    assert (features["family"] == features["label"].str.split(" ").str[0]).all()
    assert list(features.columns) == [
        "path", "label", "split", "size_bytes", "modified", "source", "family", "featurizer",
        "features",
    ]  # fmt: skip
    assert len(features) == 60
    assert features["label"].value_counts().sort_index().to_dict() == expected.to_dict()
    assert features["split"].value_counts().to_dict() == {"Training": 40, "Test": 20}
    assert features["features"].map(len).eq(1280).all()

    (bundle,) = bundles(project_copy)
    head = json.loads((bundle / "head.json").read_text())
    assert set(head["heads"]["family"]) == {"Apple", "Apricot", "Kiwi"}
    manifest = json.loads((bundle / "manifest.json").read_text())
    reports = bundle / "reports"
    featurizer = json.loads((bundle / "featurizer.json").read_text())
    assert features["featurizer"].unique().tolist() == [featurizer["fingerprint"]]
    assert manifest["featurizer"] == featurizer
    assert featurizer["weights_name"] == Path(weights_path).name
    assert featurizer["weights_sha256"] == (
        "6714965a05ee6d8568343664bb9cda7456c6eb1fa190a6f5eb39bf087068b100"
    )  # ../shared/weights/SOURCE.md
    assert manifest["version"] == bundle.parent.name
    assert_quiet_log_with_summary(run.stdout + run.stderr, manifest, n_images=60 + 10)  # + second
    assert_mlflow_run_records_the_bundle(project_copy, bundle, run.stdout + run.stderr)
    assert manifest["classes"] == CLASSES
    assert manifest["input"]["images"]["Test"] == dict.fromkeys(CLASSES, 2)
    # The second source: split on its own (one Test photo per family), scored apart.
    sources = manifest["sources"]
    assert sources["second"]["Training"] == {"Apple": 4, "Kiwi": 4}
    assert sources["second"]["Test"] == {"Apple": 1, "Kiwi": 1}
    assert sources["second"]["metrics"]["test_images"] == 2
    assert sources["fruits360"]["metrics"]["test_images"] == 20
    assert sources["fruits360"]["metrics"]["class_accuracy"] == pytest.approx(
        json.loads((bundle / "reports/classification_metrics.json").read_text())["accuracy"]
    )
    assert manifest["input"]["rejected"] == 0 and manifest["input"]["split"] == "folders"
    assert manifest["project_version"] and len(manifest["git_commit"] or "x" * 40) == 40
    for part in ("reduction/metadata", "classifier/metadata", "featurizer.tflite"):
        assert (bundle / part).exists(), part

    explained = pd.read_csv(reports / "explained_variance.csv")
    k = int((explained["cumulative"] < 0.90 - 1e-9).sum()) + 1
    assert manifest["k"] == k
    table = pd.read_csv(newest_file(data / "05_model_input" / "pca_features.csv"))
    assert list(table.columns) == ["path", "label", "split", "source", "family"] + [
        f"pca_{i}" for i in range(1, k + 1)
    ]
    assert len(table) == 70
    assert table["label"].value_counts().sort_index().to_dict() == expected.to_dict()
    assert (
        newest_file(data / "05_model_input" / "pca_features.csv").parent.name
        == (manifest["version"])
    )  # one run, one version for every output

    assert pd.read_csv(data / "08_reporting" / "rejected_images.csv").empty
    for name in ("scree_plot", "label_counts", "sample_grid", "pca_scatter", "confusion_matrix"):
        with Image.open(reports / f"{name}.png") as plot:
            assert plot.format == "PNG" and plot.width > 400, name
    metrics = json.loads((reports / "classification_metrics.json").read_text())
    assert metrics["n_test_images"] == 20
    assert sorted(metrics["per_class"]) == CLASSES
    assert metrics["accuracy"] >= 0.8  # 10 classes: chance is 0.1
    assert manifest["metrics"]["accuracy"] == metrics["accuracy"]
    summary = (reports / "summary.md").read_text()
    assert f"k = {k}" in summary and f"{metrics['accuracy']:.2%}" in summary

    # Photos the classifier never saw (the sample's last Test photo of a class).
    unseen = {label: sample_files("Test", label)[-1] for label in CLASSES[:3]}
    photos = tmp_path / "to_predict"
    photos.mkdir()
    for label, path in unseen.items():
        shutil.copy(path, photos / f"{label}_{path.name}")
    before = predictions_csv(project_copy, photos)
    predictions = pd.read_csv(data / "07_model_output" / "predictions.csv")
    assert len(predictions) == 3
    truth = predictions["path"].map(lambda p: Path(p).name.split("_")[0])
    assert (predictions["predicted_label"] == truth).all(), predictions
    assert predictions["probability"].between(0, 1).all()

    # The bundle's featurizer is used, whatever the parameters say now.
    assert_same_predictions(
        predictions_csv(project_copy, photos, "featurization.image_size=160"), before
    )

    # The CLI runs the same node: the same answers as predictions.csv.
    cli = run_predict(project_copy, *(str(p) for p in sorted(photos.iterdir())))
    assert cli.returncode == 0, cli.stderr
    answers = [line for line in cli.stdout.splitlines() if not line.startswith(("#", " "))]
    assert answers == predictions.sort_values("path")["predicted_label"].tolist()
    # Spark-free (engine.Predictor over the bundle folder): Spark's answers, to 1e-4.
    as_json = run_predict(project_copy, "--json", *(str(p) for p in sorted(photos.iterdir())))
    assert as_json.returncode == 0, as_json.stderr
    engine = pd.DataFrame([json.loads(line) for line in as_json.stdout.splitlines()])
    spark = predictions.sort_values("path").reset_index(drop=True)
    assert engine["label"].tolist() == spark["predicted_label"].tolist()
    assert (engine["probability"] - spark["probability"]).abs().max() < 1e-4
    assert engine["family"].tolist() == spark["family"].tolist()
    assert set(engine["family"]) <= set(head["heads"]["family"])
    assert engine["top3"].map(len).eq(3).all()
    assert engine["unknown"].tolist() == spark["unknown"].tolist()
    assert (
        engine["reason"].tolist()
        == spark["reason"].astype(object).where(spark["reason"].notna(), None).tolist()
    )
    assert "pyspark" not in as_json.stderr

    # "unknown": every Test image of the run answered (20 images: a 2% budget is none), and
    # the no-fruit photos the calibration never saw flagged as the bundle says.
    unknown = manifest["unknown"]
    assert unknown["accept"] == 0.98 and unknown["test_images"] == 20
    assert unknown["test_answered"] == 1.0
    assert (unknown["nofruit_calibration_photos"], unknown["nofruit_check_photos"]) == (8, 8)
    checked = run_predict(project_copy, "--json", *map(str, roles["check"]))
    check = pd.DataFrame([json.loads(line) for line in checked.stdout.splitlines()])
    assert check["unknown"].mean() == unknown["nofruit_check_flagged"] >= 0.75
    assert set(check["reason"].dropna()) <= {"unlike the training images", "low confidence"}
    junk = tmp_path / "notes.jpg"
    junk.write_text("not a photo")
    mixed = run_predict(project_copy, str(next(photos.iterdir())), str(junk))
    assert mixed.returncode == 1
    assert [line for line in mixed.stderr.splitlines() if str(junk) in line] == [
        f"fruits-predict: {junk}: not an image format Pillow can read; replace or remove the file"
    ]
    assert mixed.stdout.splitlines()[1] in CLASSES  # after the "# path" header
    missing = run_predict(project_copy, str(tmp_path / "nowhere.jpg"))
    assert missing.returncode == 1 and "no such file" in missing.stderr


SITECUSTOMIZE = """
import os, signal
target = os.environ.get("FRUITS_TEST_STOP_AT")
if target:
    import fruits_pipeline.datasets.model_bundle_dataset as bundle_dataset
    write_bytes = bundle_dataset.write_bytes

    def stop_at(uri, content):
        if uri.endswith(target):
            if os.environ.get("FRUITS_TEST_STOP_HOW") == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("injected failure while writing " + uri)
        write_bytes(uri, content)

    bundle_dataset.write_bytes = stop_at
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """One complete run (4 classes) and its predictions, made once for both ways of dying:
    each test dies in its own copy of this project."""
    root = tmp_path_factory.mktemp("trained")
    project = make_project_copy(root)
    images = copy_subset(root / "fruits", CLASSES[:4], {"Training": 3, "Test": 1})
    kedro(project, "run", *WITHOUT_APP_EXPORT, "--params", f"input_path={images}")
    photos = root / "to_predict"
    photos.mkdir()
    for label in CLASSES[:4]:
        shutil.copy(sample_files("Test", label)[-1], photos / f"{label}.jpg")
    return {"project": project, "photos": photos, "before": predictions_csv(project, photos)}


@pytest.mark.parametrize("how", ["kill", "raise"])
def test_run_dying_after_its_pca_leaves_predictions_unchanged(trained, tmp_path, how):
    """A run killed (SIGKILL) or failing after it saved its PCA and classifier, between two
    report writes, leaves the previous bundle in charge: the same predictions."""
    project_copy = shutil.copytree(trained["project"], tmp_path / "project", symlinks=True)
    photos, before = trained["photos"], trained["before"]
    (old,) = bundles(project_copy)
    # The predictions compared below are this copy's own, written after it died.
    (project_copy / "data" / "07_model_output" / "predictions.csv").unlink()

    # Another training run (other images, another k) that dies in the middle of its bundle.
    more = copy_subset(tmp_path / "more", CLASSES[:6], {"Training": 4, "Test": 2})
    hook = tmp_path / "inject"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    kedro_cli = Path(sys.executable).with_name("kedro")
    env = {
        **project_env(), "PYTHONPATH": str(hook), "FRUITS_TEST_STOP_HOW": how,
        "FRUITS_TEST_STOP_AT": "reports/sample_grid.png",
    }  # fmt: skip
    died = subprocess.run(
        [str(kedro_cli), "run", "--params", f"input_path={more},reduction.k=3"],
        cwd=project_copy, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert died.returncode != 0
    root = project_copy / "data" / "06_models" / "model_bundle"
    (partial,) = (p for p in root.glob("*/model_bundle") if p.parent.name != old.parent.name)
    assert (partial / "reduction" / "metadata").is_dir()  # its PCA was saved ...
    assert (partial / "classifier" / "metadata").is_dir()  # ... and its classifier
    assert (partial / "reports" / "label_counts.png").is_file()  # one report written ...
    assert not (partial / "reports" / "sample_grid.png").exists()  # ... not the next one
    assert not (partial / "_SUCCESS").exists()
    assert bundles(project_copy) == [old]

    assert_same_predictions(predictions_csv(project_copy, photos), before)


LAYOUTS = {
    # (b) one split folder given directly, as the seeds do: no Test split -> holdout.
    "split_folder": lambda root: copy_subset(root, CLASSES[:3], {"Test": 5}) / "Test",
    # (c) flat: root/<class>/*.jpg.
    "flat": lambda root: _flat(root, CLASSES[:3], 5),
    # (d) deeper: root/<split>/<class>/<sub>/*.jpg.
    "nested": lambda root: _nested(root, CLASSES[:3]),
}


def _flat(root: Path, classes: list[str], n: int) -> Path:
    for label in classes:
        (root / label).mkdir(parents=True)
        for path in sample_files("Training", label)[:n]:
            shutil.copy(path, root / label / path.name)
    return root


def _nested(root: Path, classes: list[str]) -> Path:
    for split, n in (("Training", 4), ("Test", 2)):
        for label in classes:
            for i, path in enumerate(sample_files(split, label)[:n]):
                target = root / split / label / f"take_{i % 2}"
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target / path.name)
    return root


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_folder_layout_runs(project_copy, tmp_path, layout):
    folder = LAYOUTS[layout](tmp_path / "photos")
    n_images = len(list(folder.rglob("*.jpg")))
    kedro(
        project_copy, "run", *WITHOUT_APP_EXPORT, "--params", f"input_path={folder},reduction.k=2"
    )

    (bundle,) = bundles(project_copy)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["classes"] == CLASSES[:3]
    features = pd.read_parquet(
        newest_version(project_copy / "data" / "04_feature" / "image_features.parquet")
    )
    assert len(features) == n_images and features["label"].notna().all()
    assert sorted(features["label"].unique()) == CLASSES[:3]
    metrics = json.loads((bundle / "reports" / "classification_metrics.json").read_text())
    summary = (bundle / "reports" / "summary.md").read_text()
    if layout == "nested":
        assert manifest["input"]["split"] == "folders"
        assert metrics["n_test_images"] == 6
    else:  # 5 per class, test_fraction 0.2: one Test image per class
        assert manifest["input"]["split"].startswith("holdout")
        assert "holdout" in summary
        assert metrics["n_test_images"] == 3
        assert features["split"].value_counts().to_dict() == {"Training": 12, "Test": 3}


def test_one_class_skips_classification_but_writes_the_rest(project_copy, tmp_path):
    folder = _flat(tmp_path / "photos", ["Kiwi"], 3)
    log = kedro(project_copy, "run", "--params", f"input_path={folder},reduction.k=2").stdout
    assert "classification skipped: 1 class(es)" in " ".join(log.split())
    (bundle,) = bundles(project_copy)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["classes"] == [] and manifest["classifier"].startswith("skipped")
    assert (bundle / "reduction" / "metadata").is_dir()
    assert not (bundle / "classifier").exists()
    assert "classifier: skipped" in (bundle / "reports" / "summary.md").read_text()
    # No classifier, no app model: the export says why and writes nothing.
    assert "app model not exported" in " ".join(log.split())
    assert not (project_copy / "data" / "07_model_output" / "app_model").exists()


def test_retention_keeps_the_newest_versions(project_copy, tmp_path):
    """keep_versions=2: older version folders of every versioned output are pruned,
    never the one named by model_version."""
    data = project_copy / "data"
    outputs = {
        "04_feature/image_features.parquet": "image_features.parquet",
        "05_model_input/pca_features.parquet": "pca_features.parquet",
        "06_models/model_bundle": "model_bundle",
    }
    old = [f"2026-01-0{day}T00.00.00.000Z" for day in range(1, 5)]
    for folder, name in outputs.items():
        for version in old:
            (data / folder / version / name).mkdir(parents=True)
            if name.endswith(".parquet"):  # readable: the run loads the newest stored features
                pd.DataFrame({"path": ["x"]}).to_parquet(
                    data / folder / version / name / "p.parquet"
                )
            (data / folder / version / name / "_SUCCESS").touch()
    folder = _flat(tmp_path / "photos", CLASSES[:2], 3)
    log = kedro(
        project_copy, "run", *WITHOUT_APP_EXPORT,
        "--params", f"input_path={folder},reduction.k=2,keep_versions=2,model_version={old[0]}",
    ).stdout  # fmt: skip
    for folder, _name in outputs.items():
        kept = sorted(p.name for p in (data / folder).iterdir())
        # the run's own version, the newest old one, and the protected model_version
        assert kept[0] == old[0] and kept[1] == old[-1] and len(kept) == 3, (folder, kept)
    assert "retention: removed 2 old version(s) of image_features" in " ".join(log.split())


def test_bad_parameters_are_one_line_each(project_copy):
    output = " ".join(
        kedro_fails(
            project_copy, "run", "--params",
            "featurization.progress_interval_s=0,featurization.alpha=abc,"
            "featurization.image_size=16,featurization.backend=onnx,reduction.k=0,"
            "reduction.variance_threshold=1.5,ingestion.test_fraction=1,label_depth=0,"
            "incremental=maybe,keep_versions=-1,featurization.bach_size=4",
        ).split()
    )  # fmt: skip
    assert "11 invalid parameter(s)" in output
    for line in (
        "parameter featurization.progress_interval_s=0: Input should be greater than 0",
        "parameter featurization.alpha='abc': must be a MobileNetV2 width",
        "parameter featurization.image_size=16: Input should be greater than or equal to 32",
        "parameter featurization.backend='onnx': Input should be 'tflite', 'tflite_fp16', "
        "'tflite_int8' or 'keras'",
        "parameter reduction.k=0: Input should be greater than or equal to 1",
        "parameter reduction.variance_threshold=1.5: Input should be less than or equal to 1",
        "parameter ingestion.test_fraction=1: Input should be less than 1",
        "parameter label_depth=0: Input should be greater than or equal to 1",
        "parameter incremental='maybe': Input should be a valid boolean",
        "parameter keep_versions=-1: Input should be greater than or equal to 1",
        "parameter featurization.bach_size is unknown",
    ):
        assert line in output, line


def test_unusable_tracking_store_is_one_line_before_any_work(project_copy, tmp_path):
    """A run that could not be recorded stops at once (one line naming the store and the
    fix) rather than after its work: every run is meant to be comparable in MLflow."""
    not_a_folder = tmp_path / "plain_file"
    not_a_folder.write_text("x")
    store = f"sqlite:///{not_a_folder}/mlflow.db"
    output = " ".join(kedro_fails(project_copy, "run", env={"MLFLOW_TRACKING_URI": store}).split())
    assert f"Error: MLflow tracking store {store} cannot be used" in output
    assert "point MLFLOW_TRACKING_URI" in output
    assert not (project_copy / "data" / "04_feature" / "image_features.parquet").exists()
    assert not (project_copy / "mlflow.db").exists()


def test_weights_that_are_not_hdf5_stop_before_any_image(project_copy, tmp_path):
    fake = tmp_path / "weights.h5"
    fake.write_text("<html>not weights</html>")
    output = " ".join(
        kedro_fails(project_copy, "run", "--params", f"featurization.weights={fake}").split()
    )
    assert f"featurization.weights: {fake.name} is not an HDF5 file" in output
    assert not (project_copy / "data" / "04_feature" / "image_features.parquet").exists()


def test_kedro_viz_build_shows_every_node(project_copy):
    kedro(project_copy, "viz", "build")
    graph = json.loads((project_copy / "build" / "api" / "main").read_text())
    shown = {
        node["name"]
        for node in graph["nodes"]
        if node["type"] == "task" and "__default__" in node["pipelines"]
    }
    configure_project("fruits_pipeline")
    assert shown == {node.name for node in register_pipelines()["__default__"].nodes}
    assert {
        "build_featurizer", "select_images_to_featurize", "featurize_images",
        "merge_image_features", "fit_reduction", "train_classifier", "publish_model_bundle",
    } <= shown  # fmt: skip
    datasets = {node["name"] for node in graph["nodes"] if node["type"] == "data"}
    assert {"raw_images", "featurizer", "image_features", "pca_features", "model_bundle"} <= (
        datasets
    )


@pytest.mark.parametrize("case", ["missing", "no_images"])
def test_bad_input_folder_stops_before_spark_work(project_copy, tmp_path, case):
    folder = tmp_path / "photos"
    if case == "no_images":
        (folder / "Training" / "Kiwi").mkdir(parents=True)
        (folder / "Training" / "Kiwi" / "notes.txt").write_text("no photo here")
    output = " ".join(
        kedro_fails(project_copy, "run", "--params", f"input_path={folder}").split()
    )  # rich wraps long lines
    problem = "does not exist" if case == "missing" else "has no .jpg/.jpeg file"
    assert f"Input folder {folder} {problem}" in output
    assert "--params input_path=" in output
    assert not (project_copy / "data" / "04_feature" / "image_features.parquet").exists()


def test_unknown_env_names_the_envs_there_are(project_copy):
    kedro_cli = Path(sys.executable).with_name("kedro")
    result = subprocess.run(
        [str(kedro_cli), "run", "--env", "prod"], cwd=project_copy, env=project_env(),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())
    assert "Config env 'prod' not found" in output
    assert "['emr', 'local', 's3_local']" in output
