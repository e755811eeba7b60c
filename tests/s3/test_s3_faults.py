"""S3 faults: missing bucket, refused credentials, the server gone mid-run - a clear error and a
non-zero exit; after the fix a rerun completes, and the last complete outputs survive."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from scripts.local_s3 import BUCKET, LocalS3, free_port
from tests.conftest import SMALL_CLASSES, copy_subset
from tests.e2e.conftest import WITHOUT_APP_EXPORT, project_env
from tests.s3.conftest import (
    PREFIX,
    newest_s3_version,
    point_s3_local_at,
    s3_filesystem,
    stop_soon,
    upload_images,
)

pytestmark = [pytest.mark.s3, pytest.mark.e2e]

# Give up fast when the server is gone (S3A and the AWS SDK retry for minutes by default).
FAST_FAILURE = """
spark.hadoop.fs.s3a.attempts.maximum: 1
spark.hadoop.fs.s3a.retry.limit: 1
spark.hadoop.fs.s3a.retry.interval: 100ms
spark.hadoop.fs.s3a.connection.establish.timeout: 2s
spark.hadoop.fs.s3a.connection.timeout: 5s
"""


KEDRO = str(Path(sys.executable).with_name("kedro"))


def kedro_with(project: Path, env: dict[str, str], *args: str, ok: bool) -> str:
    """kedro in ``project`` with extra env vars; asserts success or failure, returns the log."""
    result = subprocess.run(
        [KEDRO, *args], cwd=project, env={**project_env(), **env}, capture_output=True,
        text=True, timeout=900, check=False,
    )  # fmt: skip
    assert (result.returncode == 0) == ok, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return " ".join((result.stdout + result.stderr).split())


@pytest.fixture
def own_server(tmp_path):
    """A server of this test's own, so stopping it disturbs no other test."""
    server = LocalS3(tmp_path / "seaweedfs", s3_port=free_port()).start()
    server.create_bucket()
    yield server
    stop_soon(server)


def test_missing_bucket_and_wrong_credentials_are_clear_errors(project_copy, s3_env, tmp_path):
    point_s3_local_at(project_copy, s3_env)
    images = copy_subset(tmp_path / "fruits", SMALL_CLASSES[:1], {"Training": 2})
    upload_images(s3_env, images)
    run = ("run", "--env", "s3_local")

    wrong_key = {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    output = kedro_with(project_copy, wrong_key, *run, ok=False)
    assert f"Cannot list input folder s3a://{BUCKET}/{PREFIX}/01_raw/fruits-360" in output
    assert "AWS credentials" in output

    globals_yml = project_copy / "conf" / "s3_local" / "globals.yml"
    text = globals_yml.read_text().replace(f"s3_bucket: {BUCKET}", "s3_bucket: no-such-bucket")
    globals_yml.write_text(text)
    output = kedro_with(project_copy, {}, *run, ok=False)
    assert "Cannot list input folder s3a://no-such-bucket/" in output
    assert "bucket exists" in output


def test_server_stopped_mid_run_then_rerun_completes(
    project_copy, own_server, tmp_path, weights_path
):
    point_s3_local_at(project_copy, own_server)
    with (project_copy / "conf" / "s3_local" / "spark.yml").open("a") as spark_yml:
        spark_yml.write(FAST_FAILURE)
    images = copy_subset(tmp_path / "fruits", SMALL_CLASSES, {"Training": 4, "Test": 2})
    assert upload_images(own_server, images) == 18
    params = f"featurization.weights={weights_path},reduction.k=3"
    # Every stage but the app export: the S3 -> S3 run of test_s3_run.py exports it.
    run = ["run", "--env", "s3_local", *WITHOUT_APP_EXPORT, "--params", params]

    # 1. A complete run: the outputs a reader relies on.
    kedro_with(project_copy, own_server.env, *run, ok=True)
    fs = s3_filesystem(own_server)
    features = f"{BUCKET}/{PREFIX}/04_feature/image_features.parquet"
    bundles = f"{BUCKET}/{PREFIX}/06_models/model_bundle/*/model_bundle/_SUCCESS"
    features_before = newest_s3_version(own_server, features)
    bundles_before = fs.glob(bundles)
    assert len(bundles_before) == 1

    # 2. The server goes away while the images are being featurized.
    process = subprocess.Popen(
        [KEDRO, *run], cwd=project_copy, env={**project_env(), **own_server.env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "featurizing 18 images" in line:
            stop_soon(own_server)
            break
    lines += process.stdout.readlines()
    assert process.wait(timeout=600) != 0
    output = " ".join("".join(lines).split())
    assert f"Reading the images failed (e.g. s3a://{BUCKET}/{PREFIX}/01_raw/fruits-360/" in output
    assert "fix that and rerun" in output

    # 3. Server back (same data): the newest committed features and the only complete bundle
    # are still the first run's; a rerun completes and commits new ones.
    own_server.start()
    time.sleep(1)
    fs.invalidate_cache()
    assert newest_s3_version(own_server, features) == features_before
    assert fs.glob(bundles) == bundles_before
    kedro_with(project_copy, own_server.env, *run, ok=True)
    fs.invalidate_cache()
    after = newest_s3_version(own_server, features)
    assert after != features_before
    assert len(pd.read_parquet(after, storage_options={
        "key": own_server.access_key, "secret": own_server.secret_key,
        "client_kwargs": fs.client_kwargs,
    })) == 18  # fmt: skip
    assert len(fs.glob(bundles)) == 2
