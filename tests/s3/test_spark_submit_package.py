"""`fruits-emr package` -> `fruits-emr deploy` to the local S3 server -> what bootstrap.sh
does (files from the bucket, SHA256SUMS, the lock with --require-hashes, the wheel) in a
fresh virtualenv -> spark-submit, S3 -> S3: EMR's shape.

The command is fruits-emr's EMR step (plan.spark_submit_args) with only what a laptop
changes: a local master, the s3a jars EMR has built in, local install paths and the
s3_local env. It runs from an empty folder: the deployed files are all it has. Secrets
planted in the project's conf/ and src/ reach neither the wheel, the tarball nor the bucket.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pyspark
import pytest

from fruits_pipeline.emr import cli, plan
from fruits_pipeline.emr.settings import load_settings
from scripts.local_s3 import BUCKET
from tests.conftest import REPO, SMALL_CLASSES, copy_subset
from tests.network_probe import outside_hosts, probed_env, resolved_hosts
from tests.s3.conftest import (
    PREFIX,
    newest_s3_version,
    point_s3_local_at,
    s3_filesystem,
    upload_images,
)
from tests.s3.test_ops_local_s3 import SECRET, expected_members, plant, tar_members

pytestmark = [pytest.mark.package, pytest.mark.s3, pytest.mark.e2e]


def emr_step_run_locally(venv: Path, install_dir: Path, params: str) -> list[str]:
    """The EMR step's spark-submit args, adapted for this machine."""
    settings = load_settings(REPO / "deploy" / "emr.yml")
    args = plan.spark_submit_args(settings, params)
    spark_jars = Path(pyspark.__file__).parent / "jars"
    s3a_jars = [
        str(p.resolve())
        for pattern in ("hadoop-aws-*.jar", "bundle-*.jar", "spark-hadoop-cloud_*.jar")
        for p in sorted(spark_jars.glob(pattern))
    ]
    assert len(s3a_jars) == 3, f"s3a jars missing in {spark_jars}: run `make jars`"
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


def bootstrap_from_bucket(s3_env, deployment: str, install_dir: Path) -> Path:
    """What deploy/bootstrap.sh does on a node, here: copy the deployment's files from the
    bucket, check them against SHA256SUMS, install the lock with --require-hashes, then the
    wheel without resolving anything."""
    client, prefix = s3_env.client(), f"fruits_pipeline/deploy/{deployment}/"
    install_dir.mkdir(parents=True)
    for item in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]:
        name = item["Key"][len(prefix) :]
        (install_dir / name).write_bytes(
            client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        )
    for line in (install_dir / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((install_dir / name).read_bytes()).hexdigest() == digest, name
    venv = install_dir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    node_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only the venv
    (wheel,) = install_dir.glob("fruits_pipeline-*.whl")
    for args in (
        ["--require-hashes", "--no-deps", "-r", str(install_dir / plan.LOCK_FILE)],
        ["--no-deps", "--no-index", str(wheel)],
    ):
        pip = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *args],
            capture_output=True, text=True, timeout=1500, check=False, env=node_env,
        )  # fmt: skip
        assert pip.returncode == 0, pip.stderr[-3000:]
    check = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "check"],
                           capture_output=True, text=True, check=False, env=node_env)  # fmt: skip
    assert check.returncode == 0, check.stdout  # the lock is complete
    node_packages = subprocess.run([str(venv / "bin" / "pip"), "freeze"], capture_output=True,
                                   text=True, check=True, env=node_env).stdout.lower()  # fmt: skip
    assert "kedro-viz" not in node_packages and "kedro==" in node_packages  # viz: people only
    return venv


def package_and_deploy(project_copy: Path, s3_env, monkeypatch) -> str:
    """`make package` + `fruits-emr deploy` with secrets planted; returns the deployment."""
    shutil.copytree(REPO / "deploy", project_copy / "deploy")
    plant(project_copy / "conf")
    for leak in ("src/fruits_pipeline/.env", "src/fruits_pipeline/credentials.yml"):
        (project_copy / leak).write_text(f"secret: {SECRET}\n")
    config = str(project_copy / "deploy" / "emr.yml")
    dist = project_copy / "dist"
    assert cli.main(["--config", config, "package", "--project", str(project_copy),
                     "--dist", str(dist)]) == 0  # fmt: skip
    (wheel,) = dist.glob("fruits_pipeline-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert not [n for n in names if n.endswith((".env", ".pem")) or "credentials" in n]
        assert not [n for n in names if SECRET.encode() in archive.read(n)]
        metadata = next(archive.read(n).decode() for n in names if n.endswith("/METADATA"))
    # The wheel carries only the pipeline: the ops tool's dependencies are an extra (boto3
    # is a runtime dependency since it is MLflow's S3 artifact store).
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    for ops in ("tqdm", "build"):
        assert all("extra ==" in line for line in requires if line.split()[1].startswith(ops))
    assert set(tar_members(dist / plan.CONF_TARBALL)) == expected_members(project_copy / "conf")

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_env.endpoint)
    assert cli.main(["--config", config, "deploy", "--dist", str(dist)]) == 0
    client = s3_env.client()
    for item in client.list_objects_v2(Bucket=BUCKET, Prefix="fruits_pipeline/deploy/")["Contents"]:
        body = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        if item["Key"].endswith(".gz"):
            body = __import__("gzip").decompress(body)
        assert SECRET.encode() not in body, item["Key"]
    pointer = client.get_object(Bucket=BUCKET, Key="fruits_pipeline/deploy/LATEST")["Body"].read()
    return json.loads(pointer)["id"]


def test_packaged_wheel_runs_through_spark_submit_s3_to_s3(
    project_copy, s3_env, tmp_path, weights_path, monkeypatch
):
    point_s3_local_at(project_copy, s3_env)
    deployment = package_and_deploy(project_copy, s3_env, monkeypatch)
    install_dir = tmp_path / "opt" / "fruits_pipeline"
    venv = bootstrap_from_bucket(s3_env, deployment, install_dir)
    node_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only the venv
    probe = "import fruits_pipeline; print(fruits_pipeline.__file__)"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
        check=False, env=node_env,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr[-2000:]
    where = where.stdout
    assert where.startswith(str(venv)), where  # the wheel, not this checkout

    images = copy_subset(tmp_path / "fruits", SMALL_CLASSES, {"Training": 4, "Test": 2})
    assert upload_images(s3_env, images) == 18

    command = emr_step_run_locally(
        venv, install_dir, f"featurization.weights={weights_path},reduction.k=4"
    )
    workdir = tmp_path / "empty"
    workdir.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYSPARK_", "SPARK_")) and k != "PYTHONPATH"
    }
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
    features_uri = newest_s3_version(s3_env, f"{BUCKET}/{PREFIX}/04_feature/image_features.parquet")
    features = pd.read_parquet(features_uri, storage_options=options)
    assert features["features"].map(len).eq(1280).all()
    # Committed by the S3A magic committer, not by renames.
    marker = json.loads(fs.cat(features_uri.removeprefix("s3://") + "/_SUCCESS"))
    assert marker["committer"] == "magic"
    assert not (workdir / "data").exists()  # every output went to the bucket
