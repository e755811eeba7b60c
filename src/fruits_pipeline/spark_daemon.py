"""Spark's Python daemon, with the featurization imports done once before it forks workers.

Set as ``spark.python.daemon.module`` (conf/base/spark.yml). Spark starts one daemon per
executor and forks a Python worker from it for each concurrent task; with the stock
``pyspark.daemon`` every worker then imports pandas, pyarrow, Pillow and the TFLite
runtime on its own, all at once, on the executor's cores. Imported here, the forked
workers start with them loaded (copy-on-write).
"""

import contextlib
import importlib
import logging
import sys

# Worker-side modules of the featurize UDF. A missing one is skipped here: the task that
# needs it then fails with the usual ImportError, naming it.
PRELOADED_MODULES = (
    "numpy",
    "pandas",
    "pyarrow",
    "PIL.Image",
    "ai_edge_litert.interpreter",
    "fruits_pipeline.pipelines.featurization.model",
)

# The daemon tells the JVM its port on stdout: nothing imported may print there.
with contextlib.redirect_stdout(sys.stderr):
    for _name in PRELOADED_MODULES:
        try:
            importlib.import_module(_name)
        except ImportError as _error:
            logging.getLogger(__name__).warning("not preloaded in the daemon: %s", _error)

# pyspark.daemon imports the worker module (pyspark.worker) itself, before any fork.
from pyspark.daemon import manager  # noqa: E402

if __name__ == "__main__":
    manager()
