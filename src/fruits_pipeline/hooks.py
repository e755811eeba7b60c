"""Project hooks: the SparkSession, the parameter check, cache release and version retention."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.logging import RichHandler
from py4j.protocol import Py4JJavaError
from pyspark import SparkConf
from pyspark.sql import DataFrame, SparkSession
from rich import box
from rich.table import Table

import fruits_pipeline
from fruits_pipeline.datasets.hadoop_fs import (
    delete,
    hadoop_filesystem,
    is_complete,
    read_bytes,
    shown_path,
    spark_uri,
)
from fruits_pipeline.params import validate_parameters
from fruits_pipeline.tracking import active_run_id, record_run

logger = logging.getLogger(__name__)


class SparkHooks:
    @hook_impl
    def after_context_created(self, context) -> None:
        """Initialise the SparkSession from ``spark.yml`` (base merged with the run env).

        Under ``spark-submit`` (EMR) a session already exists with the cluster's master;
        ``getOrCreate`` reuses it and only adds the project's settings.
        """
        # Python workers must run the interpreter that has this project and TensorFlow;
        # spark-submit / EMR set their own value, which is kept.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        spark_settings = {str(k): str(v) for k, v in spark_config(context).items()}
        add_log4j2_config(spark_settings, Path(context.project_path) / "conf" / "log4j2.properties")
        spark_settings.update(local_cluster_worker_env(spark_settings))
        spark_conf = SparkConf().setAll(spark_settings.items())
        spark = (
            SparkSession.builder.appName(context.project_path.name)
            .config(conf=spark_conf)
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("WARN")


def add_log4j2_config(spark_settings: dict[str, str], log4j2: Path) -> None:
    """The project's log4j2 file for a driver JVM this process starts (no effect when
    spark-submit started it: EMR keeps its own logging)."""
    if not log4j2.is_file():
        return
    option = f"-Dlog4j2.configurationFile={log4j2.resolve().as_uri()}"
    java_options = spark_settings.get("spark.driver.extraJavaOptions", "")
    if "log4j2.configurationFile" not in java_options:
        spark_settings["spark.driver.extraJavaOptions"] = f"{java_options} {option}".strip()


def local_cluster_worker_env(settings: dict[str, str]) -> dict[str, str]:
    """``local-cluster`` masters: executors are separate JVMs whose Python workers must run
    this interpreter and import this checkout's code (the driver's), not an installed copy."""
    if not settings.get("spark.master", "").startswith("local-cluster"):
        return {}
    code_root = str(Path(fruits_pipeline.__file__).resolve().parents[1])
    python_path = os.pathsep.join(p for p in (code_root, os.environ.get("PYTHONPATH")) if p)
    return {
        key: value
        for key, value in {
            "spark.executorEnv.PYSPARK_PYTHON": os.environ["PYSPARK_PYTHON"],
            "spark.executorEnv.PYTHONPATH": python_path,
        }.items()
        if key not in settings
    }


def spark_config(context) -> dict:
    """conf/<env>/spark.yml merged on base; an unknown --env named with the ones there are."""
    try:
        return context.config_loader["spark"]
    except MissingConfigException as error:
        conf_source = str(context.config_loader.conf_source)
        envs = sorted(
            p.name for p in Path(conf_source).iterdir() if p.is_dir() and p.name != "base"
        ) if Path(conf_source).is_dir() else []  # fmt: skip
        raise MissingConfigException(
            f"Config env {context.env!r} not found in {conf_source} ({error}). "
            f"Run with --env set to one of {envs or 'the folders of the conf source'}: "
            "local (this machine), emr (AWS), s3_local (local S3 server: make s3-up)."
        ) from None


class ParameterHooks:
    """Every parameter checked once, against one schema, as soon as the catalog exists."""

    @hook_impl
    def after_catalog_created(self, parameters: dict[str, Any]) -> None:
        # ``parameters`` is Kedro's feed dict: "parameters" holds them all, as a tree.
        validate_parameters(parameters["parameters"])

    @hook_impl
    def before_pipeline_run(self, pipeline, catalog) -> None:
        # The weights file (exists, HDF5) and the input folders (exist, hold images,
        # storage reachable) are checked before any node runs.
        for name in ("featurizer_weights", "raw_images", "photos_to_predict"):
            if name in pipeline.inputs():
                catalog.load(name)


def _spark_outputs(conf_catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: entry
        for name, entry in conf_catalog.items()
        if not name.startswith("_") and isinstance(entry, dict) and "filepath" in entry
    }


class SparkCacheHooks:
    """Release cached DataFrames once a Spark output is saved.

    Downstream nodes load a saved Spark output from storage, so what was cached to
    compute it (the featurized rows, persisted for one pass over the images) is not
    needed any more.
    """

    def __init__(self) -> None:
        self._persisted: set[str] = set()

    @hook_impl
    def after_catalog_created(self, conf_catalog: dict[str, Any]) -> None:
        self._persisted = {
            name for name, entry in _spark_outputs(conf_catalog).items() if "Spark" in entry["type"]
        }

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if dataset_name in self._persisted and isinstance(data, DataFrame):
            data.sparkSession.catalog.clearCache()


class RetentionHooks:
    """After a run that committed a model bundle: keep ``keep_versions`` of each output.

    Every versioned output (local or S3, listed through Hadoop's FileSystem) keeps its
    newest ``keep_versions`` version folders; older ones are deleted, except the versions
    of the newest ``keep_versions`` complete bundles and of ``model_version`` (so a kept
    bundle keeps its run's features and tables). What is pruned is logged.
    """

    def __init__(self) -> None:
        self._versioned: dict[str, str] = {}

    @hook_impl
    def after_catalog_created(self, conf_catalog: dict[str, Any]) -> None:
        self._versioned = {}
        for name, entry in _spark_outputs(conf_catalog).items():
            if entry.get("versioned"):
                self._versioned.setdefault(spark_uri(entry["filepath"]), name)

    @hook_impl
    def after_pipeline_run(self, pipeline, catalog) -> None:
        if "model_bundle" not in pipeline.all_outputs():
            return
        keep = catalog.load("params:keep_versions")
        bundle_root = next(uri for uri, name in self._versioned.items() if name == "model_bundle")
        # The runs of the bundles that stay keep their features and tables too.
        protected = {catalog.load("params:model_version"), *complete_versions(bundle_root)[:keep]}
        for uri, name in sorted(self._versioned.items(), key=lambda item: item[1]):
            pruned = prune_versions(uri, keep, protected - {None})
            if pruned:
                logger.info(
                    "retention: removed %d old version(s) of %s (keep_versions=%d): %s",
                    len(pruned), name, keep, ", ".join(pruned),
                )  # fmt: skip


def list_versions(root: str) -> list[str]:
    """Version folder names below a versioned output, newest first ([] if none yet)."""
    path, filesystem = hadoop_filesystem(root)
    try:
        if not filesystem.exists(path):
            return []
        statuses = filesystem.listStatus(path)
    except Py4JJavaError:
        return []
    return sorted((s.getPath().getName() for s in statuses if s.isDirectory()), reverse=True)


def complete_versions(root: str) -> list[str]:
    """Versions whose ``<version>/<name>/_SUCCESS`` exists, newest first."""
    name = root.rstrip("/").rsplit("/", 1)[-1]
    return [v for v in list_versions(root) if is_complete(f"{root}/{v}/{name}")]


def prune_versions(root: str, keep: int, protected: set[str]) -> list[str]:
    """Delete all but the newest ``keep`` versions (and the protected ones); return them."""
    pruned = [v for v in list_versions(root)[keep:] if v not in protected]
    for version in pruned:
        delete(f"{root}/{version}")
    return pruned


class RunSummaryHooks:
    """One table at the end of a run that published a bundle, read from that bundle, and
    the same figures in the run's MLflow run (with the bundle's reports and files).

    The featurize node's rate is timed here (images given to it / wall time of the node).
    """

    def __init__(self) -> None:
        self._bundle_root: str | None = None
        self._featurize: dict[str, float] = {}

    @hook_impl
    def after_catalog_created(self, conf_catalog: dict[str, Any]) -> None:
        entry = conf_catalog.get("model_bundle", {})
        self._bundle_root = spark_uri(entry["filepath"]) if "filepath" in entry else None
        self._featurize = {}

    @hook_impl
    def before_node_run(self, node, inputs: dict[str, Any]) -> None:
        if node.name == "featurize_images":
            self._featurize = {
                "images": len(inputs["files_to_featurize"]),
                "start": time.monotonic(),
            }

    @hook_impl
    def after_node_run(self, node) -> None:
        if node.name == "featurize_images" and "start" in self._featurize:
            self._featurize["seconds"] = time.monotonic() - self._featurize.pop("start")

    @hook_impl
    def after_pipeline_run(self, pipeline) -> None:
        if "model_bundle" not in pipeline.all_outputs() or self._bundle_root is None:
            return
        versions = complete_versions(self._bundle_root)
        if not versions:
            return
        bundle = f"{self._bundle_root}/{versions[0]}/model_bundle"
        figures = bundle_figures(bundle, self._featurize)
        print_run_summary(run_summary(figures, bundle, active_run_id()))
        record_run(bundle, figures["version"], run_metrics(figures))


def bundle_figures(bundle: str, featurize: dict[str, float]) -> dict[str, Any]:
    """What a run produced, read from its bundle's manifest and reports."""
    manifest = json.loads(read_bytes(f"{bundle}/manifest.json"))
    reports = f"{bundle}/reports"
    rejected = len(pd.read_csv(io.BytesIO(read_bytes(f"{reports}/rejected_images.csv"))))
    # The main input's images and those of every extra source (manifest "sources").
    splits = [manifest["input"]["images"], *(manifest.get("sources") or {}).values()]
    featurized = sum(
        count
        for source in splits
        for split in ("Training", "Test")
        for count in source.get(split, {}).values()
    )
    variance = pd.read_csv(io.BytesIO(read_bytes(f"{reports}/explained_variance.csv")))
    k = manifest["k"]
    seconds = featurize.get("seconds")
    return {
        "version": manifest["version"],
        "featurized": featurized,
        "rejected": rejected,
        "classes": manifest["input"]["classes"],
        "k": k,
        "variance_kept": (
            float(variance["cumulative"].iloc[k - 1]) if 0 < k <= len(variance) else float("nan")
        ),
        "metrics": manifest.get("metrics") or {},
        "classifier": manifest.get("classifier"),
        "unknown": manifest.get("unknown") or {},
        "featurize_images": featurize.get("images", 0),
        "featurize_img_per_s": featurize["images"] / seconds if seconds else None,
    }


def run_metrics(figures: dict[str, Any]) -> dict[str, float]:
    """The figures as MLflow metrics; accuracy and macro_f1 as in classification_metrics.json."""
    unknown = figures["unknown"]
    metrics = {
        **{
            name: figures["metrics"][name]
            for name in ("accuracy", "macro_f1", "n_test_images")
            if name in figures["metrics"]
        },
        "k": figures["k"],
        "variance_kept": figures["variance_kept"],
        "images_seen": figures["featurized"] + figures["rejected"],
        "images_featurized": figures["featurized"],
        "images_rejected": figures["rejected"],
        "classes": figures["classes"],
        "featurize_img_per_s": figures["featurize_img_per_s"],
        "unknown_test_answered": unknown.get("test_answered"),
        "unknown_nofruit_check_flagged": unknown.get("nofruit_check_flagged"),
    }
    return {name: float(value) for name, value in metrics.items() if value is not None}


def run_summary(
    figures: dict[str, Any], bundle: str, mlflow_run: str | None = None
) -> list[tuple[str, str]]:
    """(what, value) rows of the summary table."""
    metrics = figures["metrics"]
    rows = [
        ("images seen", f"{figures['featurized'] + figures['rejected']}"),
        ("featurized / rejected", f"{figures['featurized']} / {figures['rejected']}"),
        ("classes", f"{figures['classes']}"),
        ("PCA k / variance kept", f"{figures['k']} / {figures['variance_kept']:.2%}"),
    ]
    if "accuracy" in metrics:
        rows.append(
            ("Test accuracy / macro F1", f"{metrics['accuracy']:.2%} / {metrics['macro_f1']:.4f}")
        )
    else:
        rows.append(("classifier", str(figures["classifier"])))
    rate, new = figures["featurize_img_per_s"], figures["featurize_images"]
    if rate is not None:
        rows.append(("featurize rate", f"{rate:.1f} img/s ({new:.0f} new images)"))
    # The version folder (model_bundle/ and its reports/ are below it): one 80-column row.
    rows += [
        ("bundle version", figures["version"]),
        ("outputs", shown_path(bundle.rstrip("/").rsplit("/", 1)[0])),
    ]
    if mlflow_run:
        rows.append(("MLflow run", f"{mlflow_run} (make mlflow)"))
    return rows


def print_run_summary(rows: list[tuple[str, str]]) -> None:
    # Kedro's rich console: the table lines up with the log above it. No outer frame or
    # edge padding: every line of it is a row of figures, within 80 columns.
    table = Table(
        title="run summary", show_header=False, title_justify="left", box=box.SQUARE,
        show_edge=False, pad_edge=False,
    )  # fmt: skip
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for what, value in rows:
        table.add_row(what, value)
    console = next(
        (h.console for h in logging.getLogger().handlers if isinstance(h, RichHandler)), None
    )
    if console is None:  # no rich logging configured: plain lines
        for what, value in rows:
            logger.info("%s: %s", what, value)
    else:
        console.print(table)
