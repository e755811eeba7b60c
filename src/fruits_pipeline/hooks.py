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
