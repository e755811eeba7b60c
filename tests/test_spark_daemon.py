"""The Python daemon of conf/base/spark.yml: workers fork from it with the imports done."""

import subprocess
import sys

from fruits_pipeline.spark_daemon import PRELOADED_MODULES


def test_daemon_module_preloads_every_featurization_module():
    check = (
        "import sys, fruits_pipeline.spark_daemon as d; "
        "print(sorted(m for m in d.PRELOADED_MODULES if m not in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    assert "not preloaded" not in result.stderr
    assert "ai_edge_litert.interpreter" in PRELOADED_MODULES


def test_daemon_starts_without_a_missing_module_and_names_it():
    blocked = (
        "import sys; sys.modules['ai_edge_litert'] = None; import fruits_pipeline.spark_daemon"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, check=True
    )
    assert "not preloaded in the daemon" in result.stderr
    assert "ai_edge_litert" in result.stderr
    assert result.stdout == ""


def test_python_workers_are_forked_from_the_project_daemon(spark):
    def parent_command(_):
        import os  # noqa: PLC0415 - runs in the Python worker

        with open(f"/proc/{os.getppid()}/cmdline", "rb") as cmdline:
            yield cmdline.read().split(b"\0")[1:3]

    parents = spark.sparkContext.parallelize(range(2), 2).mapPartitions(parent_command).collect()
    assert parents == [[b"-m", b"fruits_pipeline.spark_daemon"]] * 2
