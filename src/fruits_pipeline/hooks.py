"""Project hooks: the SparkSession is created here, from ``conf/<env>/spark.yml``."""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from pathlib import Path

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from py4j.protocol import Py4JJavaError
from pyspark import SparkConf
from pyspark.sql import SparkSession

from fruits_pipeline.datasets.hadoop_fs import hadoop_filesystem

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
        spark_conf = SparkConf().setAll(spark_settings.items())
        spark = (
            SparkSession.builder.appName(context.project_path.name)
            .config(conf=spark_conf)
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("WARN")


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


# Runtime parameter that points each image-folder dataset somewhere else.
FOLDER_PARAMS = {"raw_images": "input_path", "photos_to_predict": "predict_path"}
IMAGE_SUFFIXES = (".jpg", ".jpeg")


class InputFolderHooks:
    """Check the image folders a run reads before any Spark work starts.

    The folder is listed through Hadoop's FileSystem - the same view (local, s3a, hdfs)
    and credentials Spark's reader will use - so a missing folder, a folder without
    images, a missing bucket or refused credentials stop the run with one clear message.
    Files the image glob ignores are counted in the log, never dropped silently.
    """

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        for name in sorted(pipeline.inputs() & FOLDER_PARAMS.keys()):
            folder = catalog.get(name)._describe()["filepath"]
            # Local folders shown as plain paths, remote ones as URIs.
            folder = folder.removeprefix("file://").removeprefix("file:")
            hint = (
                f"Put the photos there (Training/<Class>/*.jpg, Test/<Class>/*.jpg) or run "
                f"with --params {FOLDER_PARAMS[name]}=/path/to/photos."
            )
            images, ignored = count_folder_files(folder)
            if images is None:
                raise FileNotFoundError(
                    f"Input folder {folder} (dataset '{name}') does not exist. {hint}"
                )
            if images == 0:
                raise FileNotFoundError(
                    f"Input folder {folder} (dataset '{name}') has no .jpg/.jpeg file. {hint}"
                )
            kinds = ", ".join(f"{n} {suffix or 'no extension'}" for suffix, n in ignored.items())
            logger.info(
                "Input folder %s: %d image files (.jpg/.jpeg), %d other files ignored%s",
                folder,
                images,
                sum(ignored.values()),
                f" ({kinds})" if kinds else "",
            )


def count_folder_files(folder: str) -> tuple[int | None, Counter]:
    """(number of .jpg/.jpeg files or None if the folder is missing, ignored suffixes)."""
    try:
        path, filesystem = hadoop_filesystem(folder)
        if not filesystem.exists(path):
            return None, Counter()
        images, ignored = 0, Counter()
        files = filesystem.listFiles(path, True)
        while files.hasNext():
            file_name = files.next().getPath().getName()
            if file_name.startswith((".", "_")):
                # Spark's file index skips hidden names (e.g. macOS "._x.jpg" forks).
                ignored["hidden"] += 1
            elif file_name.lower().endswith(IMAGE_SUFFIXES):
                images += 1
            else:
                ignored[os.path.splitext(file_name)[1].lower()] += 1
        return images, ignored
    except Py4JJavaError as error:
        cause = str(error.java_exception.toString()).splitlines()[0]
        raise OSError(
            f"Cannot list input folder {folder}: {cause}. Check that the bucket exists and "
            "that AWS credentials are set (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile "
            "or the instance role), then rerun."
        ) from None
