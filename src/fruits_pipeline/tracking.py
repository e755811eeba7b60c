"""Experiment tracking with kedro-mlflow: one MLflow run per ``kedro run`` of ``__default__``.

kedro-mlflow's hook opens the run (conf/<env>/mlflow.yml) and logs the parameters of every
node; :func:`record_run` adds what exists only once the bundle is published: its figures as
metrics, its version as a tag, its ``reports/`` and the rest of the bundle as artifacts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Before MLflow is imported (the kedro command line imports this module first, through
# the kedro.init entry point below): no usage data sent (MLflow's DO_NOT_TRACK check wants
# "true", not "1"), and its loggers left to conf/logging.yml. A value set by the caller wins.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")

from kedro.framework.project import LOGGING

from fruits_pipeline.native import KEDRO_MLFLOW_ADVICE, import_without_warning


def quiet_kedro_mlflow() -> None:
    """kedro-mlflow imported without its import-time warning (fruits_pipeline.native), and
    conf/logging.yml applied again: the import sets kedro-mlflow's logger to INFO. The
    ``kedro.init`` entry point (pyproject.toml): the kedro command line calls it before it
    loads the plugins' commands."""
    import_without_warning(*KEDRO_MLFLOW_ADVICE)
    LOGGING.configure(LOGGING.data)


quiet_kedro_mlflow()  # the first import of this module does it in any case

import mlflow  # noqa: E402
from kedro.framework.hooks import hook_impl  # noqa: E402
from kedro_mlflow.framework.hooks import MlflowHook  # noqa: E402
from mlflow.entities import RunStatus  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.telemetry.client import set_telemetry_client  # noqa: E402
from py4j.protocol import Py4JJavaError  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402

from fruits_pipeline.datasets.hadoop_fs import hadoop_filesystem  # noqa: E402
from fruits_pipeline.errors import UserError  # noqa: E402

set_telemetry_client()  # again, with the setting above, if MLflow was imported before

STORE_ERRORS = (MlflowException, SQLAlchemyError, OSError)
FIX = (
    "make it writable, or point MLFLOW_TRACKING_URI (or server.mlflow_tracking_uri in "
    "conf/<env>/mlflow.yml) at a store that works, then rerun"
)


def default_tracking_uri(project_path: Path) -> str:
    """The project's own SQLite store, unless MLFLOW_TRACKING_URI names another."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_path.resolve()}/mlflow.db"


@contextmanager
def _env(name: str, value: str | None) -> Iterator[None]:
    """``name=value`` while kedro-mlflow reads it (it sets mlflow's URI from it once)."""
    before = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


class MlflowTrackingHook(MlflowHook):
    """kedro-mlflow's hook, registered in settings.py (the plugin's auto-registration is
    disabled) so that it runs in order with the project's hooks: it opens the run after
    the inputs are checked and closes it after the bundle is recorded.

    With ``server.mlflow_tracking_uri: null`` the store is ``<project>/mlflow.db`` (or
    MLFLOW_TRACKING_URI); an env whose globals name an ``s3_endpoint`` sends artifacts
    there. A store that cannot be opened is one line, before any work.
    """

    @hook_impl
    def after_context_created(self, context) -> None:
        project_path = Path(context.project_path)
        endpoint = context.config_loader["globals"].get("s3_endpoint")
        if endpoint:  # s3_local: mlflow's boto3 client goes to the local S3 server too
            os.environ.setdefault("MLFLOW_S3_ENDPOINT_URL", str(endpoint))
        uri = default_tracking_uri(project_path)
        try:
            with _env("MLFLOW_TRACKING_URI", uri):
                super().after_context_created(context)
        except STORE_ERRORS as error:
            server = context.config_loader["mlflow"].get("server") or {}
            uri = server.get("mlflow_tracking_uri") or uri
            raise UserError(
                f"MLflow tracking store {uri} cannot be used ({first_line(error)}): {FIX}."
            ) from None


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300] if text else ''}"


def active_run_id() -> str | None:
    run = mlflow.active_run()
    return run.info.run_id if run else None


def record_run(bundle: str, version: str, metrics: dict[str, float]) -> None:
    """The published bundle in the active MLflow run: metrics, the version tag, its
    ``reports/`` (artifact folder ``reports``) and the rest (``model_bundle``).

    A store that fails here ends the run as FAILED and stops with one line: the bundle
    itself is published either way.
    """
    run_id = active_run_id()
    if run_id is None:  # tracking disabled for this pipeline
        return
    try:
        mlflow.log_metrics(metrics)
        mlflow.set_tags({"bundle_version": version, "bundle_uri": bundle})
        with tempfile.TemporaryDirectory() as tmp:
            local = copy_to_local(bundle, Path(tmp) / "model_bundle")
            mlflow.log_artifacts(str(local / "reports"), "reports")
            shutil.rmtree(local / "reports")
            mlflow.log_artifacts(str(local), "model_bundle")
    except (*STORE_ERRORS, Py4JJavaError) as error:
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise UserError(
            f"The model bundle {version} is published, but recording it in MLflow run "
            f"{run_id} (store {mlflow.get_tracking_uri()}) failed ({first_line(error)}): {FIX}."
        ) from None


def copy_to_local(uri: str, target: Path) -> Path:
    """A bundle folder (local or S3, read through Hadoop like every bundle) copied to
    ``target``, without Hadoop's hidden checksum files."""
    source, filesystem = hadoop_filesystem(uri)
    destination, _ = hadoop_filesystem(target.resolve().as_uri())
    filesystem.copyToLocalFile(False, source, destination, True)  # raw local FS: no .crc
    for hidden in [p for p in target.rglob(".*") if p.is_file()]:
        hidden.unlink()
    return target
