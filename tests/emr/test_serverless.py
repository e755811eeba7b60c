"""EMR Serverless: the application and job run calls against moto; the image's Dockerfile
linted with hadolint and checked against the settings and the deploy layout."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from fruits_pipeline.emr import cli, plan
from fruits_pipeline.emr.settings import load_settings

pytestmark = pytest.mark.emr

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "deploy" / "emr.yml"
DOCKERFILE = REPO / "deploy" / "serverless" / "Dockerfile"
SETTINGS = load_settings(CONFIG)
IMAGE = "123456789012.dkr.ecr.eu-west-3.amazonaws.com/fruits-pipeline:0.1.0"


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    """The project's settings with an image URI, and the release label moto accepts: moto
    5.2.5 validates labels against `emr-X.Y.0` and does not know the emr-spark-8.0.0 one."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", SETTINGS.region),
                        ("AWS_CONFIG_FILE", str(tmp_path / "none"))):  # fmt: skip
        monkeypatch.setenv(name, value)
    raw = yaml.safe_load(CONFIG.read_text())
    raw["serverless"].update(image_uri=IMAGE, release_label="emr-7.12.0")
    for name in ("kedro_globals", "kedro_spark"):
        raw[name] = str((CONFIG.parent / raw[name]).resolve())
    (tmp_path / "emr.yml").write_text(yaml.safe_dump(raw))
    return tmp_path / "emr.yml"


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--config", str(config), "serverless", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_create_run_status_logs_delete(config, capsys, sent):
    settings = load_settings(config)
    with mock_aws():
        client = boto3.client("emr-serverless", region_name=settings.region)
        code, out, err = run(config, capsys, "create")
        assert code == 0, err
        app_id = re.search(r"created: (\S+)", out).group(1)
        app = client.get_application(applicationId=app_id)["application"]
        assert app["name"] == settings.serverless.application_name
        assert app["type"].upper() == "SPARK"
        assert app["autoStopConfiguration"] == {"enabled": True, "idleTimeoutMinutes": 15}
        # moto does not store the image: checked on the request really sent.
        (request,) = sent["CreateApplication"]
        assert request["imageConfiguration"] == {"imageUri": IMAGE}
        assert request["architecture"] == "X86_64"
        request.pop("clientToken")  # idempotency token botocore adds
        assert request == plan.serverless_create_application_args(settings)
        code, out, _ = run(config, capsys, "create")  # idempotent
        assert code == 0 and "exists" in out and app_id in out

        code, out, err = run(config, capsys, "run", "--params", "reduction.k=50")
        assert code == 0, err
        job_id = re.search(r"job run (\S+) started", out).group(1)
        job = client.get_job_run(applicationId=app_id, jobRunId=job_id)["jobRun"]
        assert (
            job["executionRole"]
            == f"arn:aws:iam::123456789012:role/{settings.roles.serverless_job}"
        )
        submit = job["jobDriver"]["sparkSubmit"]
        assert submit["entryPoint"] == "local:///opt/fruits_pipeline/entrypoint.py"
        assert submit["entryPointArguments"] == [
            "--env", "emr", "--conf-source", "/opt/fruits_pipeline/conf-fruits_pipeline.tar.gz",
            "--params", "reduction.k=50",
        ]  # fmt: skip
        assert "--conf spark.driver.memory=4g" in submit["sparkSubmitParameters"]
        logs = job["configurationOverrides"]["monitoringConfiguration"]
        assert (
            logs["s3MonitoringConfiguration"]["logUri"] == settings.uri("logs", "serverless") + "/"
        )

        code, out, _ = run(config, capsys, "status", job_id)
        assert code == 0 and app_id in out and job_id in out

        s3 = boto3.client("s3", region_name=settings.region)
        location = {"LocationConstraint": settings.region}
        s3.create_bucket(Bucket=settings.bucket, CreateBucketConfiguration=location)
        code, _, err = run(config, capsys, "logs", job_id)
        assert code == 1 and "no logs yet" in err
        prefix = plan.serverless_log_prefix(settings, app_id, job_id)
        import gzip  # noqa: PLC0415

        s3.put_object(Bucket=settings.bucket, Key=prefix + "stdout.gz",
                      Body=gzip.compress(b"kedro on serverless"))  # fmt: skip
        code, out, _ = run(config, capsys, "logs", job_id)
        assert code == 0 and "kedro on serverless" in out

        code, out, err = run(config, capsys, "delete")
        assert code == 0, err
        states = {a["id"]: a["state"] for a in client.list_applications()["applications"]}
        assert states[app_id] == "TERMINATED"
        code, _, err = run(config, capsys, "run")
        assert code == 1 and "serverless create" in err


def test_create_without_an_image_is_an_input_error(capsys):
    code = cli.main(["--config", str(CONFIG), "serverless", "create", "--dry-run"])
    _, err = capsys.readouterr()
    assert code == 2 and "serverless.image_uri" in err and "Traceback" not in err


def test_run_dry_run_prints_the_exact_request(config, capsys):
    code, out, _ = run(config, capsys, "run", "--dry-run", "--params", "a=1")
    assert code == 0
    printed = out[out.index("start_job_run(**") + len("start_job_run(**") : out.rindex(")")]
    expected = plan.serverless_start_job_run_args(
        load_settings(config), "APPLICATION_ID", cli.DRY_RUN_ACCOUNT, "a=1"
    )
    assert json.loads(printed) == expected


# ---------------------------------------------------------------- the image


def test_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in (raw.strip() for raw in joined.splitlines())
        if line and not line.startswith("#")
    ]


def test_dockerfile_builds_from_the_serverless_base_of_the_release_and_installs_locked():
    steps = instructions(DOCKERFILE.read_text())
    args = dict(v.split("=", 1) for k, v in steps if k == "ARG" and "=" in v)
    (base,) = [v for k, v in steps if k == "FROM"]
    image = base.replace("${RELEASE}", args["RELEASE"])
    # The release whose Spark matches the wheel: the settings' Serverless release label.
    assert args["RELEASE"] == SETTINGS.serverless.release_label == SETTINGS.cluster.release_label
    assert (
        image
        == f"public.ecr.aws/emr-serverless/spark/{SETTINGS.serverless.release_label}:${{BASE_TAG}}"
    )
    copied = " ".join(v for k, v in steps if k == "COPY")
    for name in (
        plan.CONF_TARBALL,
        plan.LOCK_FILE,
        "entrypoint.py",
        "SHA256SUMS",
        "fruits_pipeline-",
    ):
        assert name in copied
    run_text = " ".join(v for k, v in steps if k == "RUN")
    assert "sha256sum --check --strict" in run_text
    assert "--require-hashes --no-deps -r requirements.lock" in run_text
    assert "--no-index ./fruits_pipeline-*.whl" in run_text
    # Where the job run looks for them.
    request = plan.serverless_start_job_run_args(SETTINGS, "app", "123456789012", None)
    submit = request["jobDriver"]["sparkSubmit"]
    workdir = [v for k, v in steps if k == "WORKDIR"][-1]
    assert submit["entryPoint"] == f"local://{workdir}/entrypoint.py"
    assert f"{workdir}/venv/bin/python" in submit["sparkSubmitParameters"]
    assert [v for k, v in steps if k == "USER"][-1] == "hadoop:hadoop"
