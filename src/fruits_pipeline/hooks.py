"""Project hooks: the SparkSession is created here, from ``conf/<env>/spark.yml``."""

from __future__ import annotations

import os
import sys

from kedro.framework.hooks import hook_impl
from pyspark import SparkConf
from pyspark.sql import SparkSession


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
        spark_settings = {str(k): str(v) for k, v in context.config_loader["spark"].items()}
        spark_conf = SparkConf().setAll(spark_settings.items())
        spark = (
            SparkSession.builder.appName(context.project_path.name)
            .config(conf=spark_conf)
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("WARN")


# Runtime parameter that points each image-folder dataset somewhere else.
FOLDER_PARAMS = {"raw_images": "input_path", "photos_to_predict": "predict_path"}
IMAGE_SUFFIXES = (".jpg", ".jpeg")


class InputFolderHooks:
    """Check the image folders a run reads before any Spark work starts."""

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        for name in sorted(pipeline.inputs() & FOLDER_PARAMS.keys()):
            folder = catalog.get(name)._describe()["filepath"]
            hint = (
                f"Put the photos there (Training/<Class>/*.jpg, Test/<Class>/*.jpg) or run "
                f"with --params {FOLDER_PARAMS[name]}=/path/to/photos."
            )
            if folder.startswith("file:"):
                local = folder.removeprefix("file://").removeprefix("file:")
                if not os.path.isdir(local):
                    raise FileNotFoundError(
                        f"Input folder {local} (dataset '{name}') does not exist. {hint}"
                    )
                if not any(
                    file.lower().endswith(IMAGE_SUFFIXES)
                    for _, _, files in os.walk(local)
                    for file in files
                ):
                    raise FileNotFoundError(
                        f"Input folder {local} (dataset '{name}') has no .jpg/.jpeg file. {hint}"
                    )
            else:
                import fsspec  # noqa: PLC0415 - remote folders only

                remote = folder.replace("s3a://", "s3://", 1)
                filesystem, path = fsspec.core.url_to_fs(remote)
                if not filesystem.exists(path):
                    raise FileNotFoundError(
                        f"Input folder {remote} (dataset '{name}') does not exist. {hint}"
                    )
