"""`kedro package` -> wheel in a fresh virtualenv -> spark-submit, S3 -> S3: EMR's shape.

The command is fruits-emr's EMR step (plan.spark_submit_args) with only what a laptop
changes: a local master, the s3a jars EMR has built in, local install paths and the
s3_local env. It runs from an empty folder: the wheel and the conf tarball are all it has.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyspark
import pytest

from fruits_pipeline.emr import plan
from fruits_pipeline.emr.settings import load_settings
from scripts.local_s3 import BUCKET
from tests.conftest import REPO, SMALL_CLASSES, copy_subset
from tests.e2e.conftest import kedro
from tests.network_probe import outside_hosts, probed_env, resolved_hosts
from tests.s3.conftest import (
    PREFIX,
    newest_s3_version,
    point_s3_local_at,
    s3_filesystem,
    upload_images,
)

pytestmark = [pytest.mark.package, pytest.mark.s3, pytest.mark.e2e]


def emr_step_run_locally(venv: Path, install_dir: Path, params: str) -> list[str]:
    """The EMR step's spark-submit args, adapted for this machine."""
    settings = load_settings(REPO / "deploy" / "emr.yml")
    args = plan.spark_submit_args(settings, params)
    spark_jars = Path(pyspark.__file__).parent / "jars"
    s3a_jars = sorted(str(p.resolve()) for p in spark_jars.glob("hadoop-aws-*.jar")) + sorted(
        str(p.resolve()) for p in spark_jars.glob("bundle-*.jar")
    )
    assert len(s3a_jars) == 2, f"s3a jars missing in {spark_jars}: run `make jars`"
    local = {
        "yarn": "local[2]",
        "emr": "s3_local",
        f"{settings.install_dir}/entrypoint.py": str(install_dir / "entrypoint.py"),
        f"{settings.install_dir}/{plan.CONF_TARBALL}": str(install_dir / plan.CONF_TARBALL),
        f"spark.pyspark.python={settings.venv_path}/bin/python": (
            f"spark.pyspark.python={venv}/bin/python"
        ),
        f"spark.pyspark.driver.python={settings.venv_path}/bin/python": (
            f"spark.pyspark.driver.python={venv}/bin/python"
        ),
    }
    changed = [local.get(arg, arg) for arg in args]
    assert sum(a != b for a, b in zip(args, changed, strict=True)) == len(local)
    at = changed.index("--deploy-mode") + 2
    return [str(venv / "bin" / "spark-submit"), *changed[1:at], "--jars", ",".join(s3a_jars),
            *changed[at:]]  # fmt: skip


def test_packaged_wheel_runs_through_spark_submit_s3_to_s3(
    project_copy, s3_env, tmp_path, weights_path
):
    point_s3_local_at(project_copy, s3_env)
    kedro(project_copy, "package")
    (wheel,) = (project_copy / "dist").glob("fruits_pipeline-*-py3-none-any.whl")
    conf_tarball = project_copy / "dist" / plan.CONF_TARBALL
    assert conf_tarball.is_file()

    # What bootstrap.sh does on each node: a venv with the wheel, files beside it.
    install_dir = tmp_path / "opt" / "fruits_pipeline"
    venv = install_dir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=1500, check=False,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    node_packages = subprocess.run([str(venv / "bin" / "pip"), "freeze"], capture_output=True,
                                   text=True, check=True).stdout.lower()  # fmt: skip
    assert "kedro-viz" not in node_packages and "kedro==" in node_packages  # viz: people only
    for path in (conf_tarball, REPO / "deploy" / "entrypoint.py"):
        shutil.copy(path, install_dir / path.name)
    probe = "import fruits_pipeline; print(fruits_pipeline.__file__)"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert where.startswith(str(venv)), where  # the wheel, not this checkout

    images = copy_subset(tmp_path / "fruits", SMALL_CLASSES, {"Training": 4, "Test": 2})
    assert upload_images(s3_env, images) == 18

    command = emr_step_run_locally(
        venv, install_dir, f"featurization.weights={weights_path},reduction.k=4"
    )
    workdir = tmp_path / "empty"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "SPARK_"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", TF_CPP_MIN_LOG_LEVEL="2",
               COLUMNS="400")  # fmt: skip
    # No telemetry opt-out variable, as on EMR; the probe logs every host the run resolves.
    network_log = tmp_path / "network.log"
    env = probed_env(env, network_log)
    print("spark-submit command:", " ".join(command))
    result = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=1500, check=False
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    assert "Pipeline execution completed successfully" in result.stdout, result.stdout[-3000:]
    assert "images seen 18 = featurized 18 + rejected 0" in result.stdout
    assert "127.0.0.1" in resolved_hosts(network_log)  # the probe ran: the S3 endpoint
    assert outside_hosts(network_log) == set()  # no telemetry: nothing left the machine

    fs = s3_filesystem(s3_env)
    options = {"key": s3_env.access_key, "secret": s3_env.secret_key,
               "client_kwargs": fs.client_kwargs}  # fmt: skip
    (table_key,) = fs.glob(f"{BUCKET}/{PREFIX}/05_model_input/pca_features.csv/*/pca_features.csv")
    table = pd.read_csv(f"s3://{table_key}", storage_options=options)
    assert len(table) == 18
    assert table.groupby("label").size().to_dict() == {label: 6 for label in SMALL_CLASSES}
    features = pd.read_parquet(
        newest_s3_version(s3_env, f"{BUCKET}/{PREFIX}/04_feature/image_features.parquet"),
        storage_options=options,
    )
    assert features["features"].map(len).eq(1280).all()
    assert not (workdir / "data").exists()  # every output went to the bucket
