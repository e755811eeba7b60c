"""`fruits-emr` against moto's AWS (S3 + EMR control plane): no network, no real account."""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import subprocess
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
BOOTSTRAP = REPO / "deploy" / "bootstrap.sh"
SETTINGS = load_settings(CONFIG)
BUCKET, REGION = SETTINGS.bucket, SETTINGS.region


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch, tmp_path):
    """Fake credentials only; no profile or config file of this machine is read."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.chdir(REPO)


@pytest.fixture
def aws():
    with mock_aws():
        yield


@pytest.fixture
def run(capsys):
    """main() with the project's settings -> (exit code, stdout, stderr)."""

    def _run(*args: str, config: Path = CONFIG):
        code = cli.main(["--config", str(config), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture
def dist(tmp_path) -> Path:
    folder = tmp_path / "dist"
    folder.mkdir()
    (folder / "fruits_pipeline-0.1.0-py3-none-any.whl").write_bytes(b"fake wheel")
    (folder / plan.CONF_TARBALL).write_bytes(b"fake conf")
    return folder


@pytest.fixture
def sent(monkeypatch):
    """The parameters of every request the CLI really sends, by operation name."""
    calls: dict[str, list[dict]] = {}
    original = cli.App.client

    def client(self, service):
        made = original(self, service)

        def record(params, model, **_):
            calls.setdefault(model.name, []).append(params)

        made.meta.events.register("provide-client-params", record)
        return made

    monkeypatch.setattr(cli.App, "client", client)
    return calls


def s3():
    return boto3.client("s3", region_name=REGION)


def emr():
    return boto3.client("emr", region_name=REGION)


def launched(run, dist, *extra) -> str:
    assert run("bucket")[0] == 0
    assert run("deploy", "--dist", str(dist))[0] == 0
    code, out, err = run("launch", *extra)
    assert code == 0, err
    return re.search(r"\bj-[A-Z0-9]+\b", out).group(0)


# ---------------------------------------------------------------- settings


def test_bucket_prefix_and_region_come_from_the_emr_globals(tmp_path):
    globals_yml = yaml.safe_load((REPO / "conf" / "emr" / "globals.yml").read_text())
    assert (SETTINGS.bucket, SETTINGS.prefix, SETTINGS.region) == (
        globals_yml["s3_bucket"],
        globals_yml["s3_prefix"],
        "eu-west-3",
    )
    # One place: another globals file moves everything fruits-emr touches.
    (tmp_path / "globals.yml").write_text(
        "aws_region: eu-west-1\ns3_bucket: other-bucket\ns3_prefix: p2\n"
    )
    raw = yaml.safe_load(CONFIG.read_text())
    raw["kedro_globals"] = "globals.yml"
    (tmp_path / "emr.yml").write_text(yaml.safe_dump(raw))
    moved = load_settings(tmp_path / "emr.yml")
    assert moved.uri("deploy", "bootstrap.sh") == "s3://other-bucket/p2/deploy/bootstrap.sh"
    assert moved.region == "eu-west-1"


# ---------------------------------------------------------------- bucket


def test_bucket_is_private_encrypted_owner_enforced_and_idempotent(aws, run):
    code, out, _ = run("bucket")
    assert code == 0 and "creating" in out
    assert s3().get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == REGION
    block = s3().get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"],
        True,
    )
    rules = s3().get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    ownership = s3().get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]
    assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]

    code, out, _ = run("bucket")  # second call: nothing to create, settings re-applied
    assert code == 0 and "exists" in out
    assert [b["Name"] for b in s3().list_buckets()["Buckets"]] == [BUCKET]


# ---------------------------------------------------------------- upload


def dataset(root: Path) -> Path:
    files = {
        "Training/Apple Red 1/r_0_100.jpg": b"a" * 10,
        "Training/Apple Red 1/r_1_100.JPEG": b"b" * 20,
        "Test/Avocado ripe/r_2_100.jpg": b"c" * 30,
        "Training/notes.txt": b"not an image",
        "Test/.DS_Store": b"junk",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def raw_objects() -> dict[str, int]:
    listing = s3().list_objects_v2(Bucket=BUCKET, Prefix=SETTINGS.raw_key)
    return {o["Key"]: o["Size"] for o in listing.get("Contents", [])}


def test_upload_images_then_skip_them(aws, run, tmp_path):
    run("bucket")
    local = dataset(tmp_path / "fruits")
    code, out, _ = run("upload", str(local))
    assert code == 0
    assert "uploaded 3, skipped 0" in out and "ignored 2" in out
    raw = "fruits_pipeline/data/01_raw/fruits-360/"
    assert raw_objects() == {
        raw + "Training/Apple Red 1/r_0_100.jpg": 10,
        raw + "Training/Apple Red 1/r_1_100.JPEG": 20,
        raw + "Test/Avocado ripe/r_2_100.jpg": 30,
    }

    code, out, _ = run("upload", str(local))
    assert code == 0 and "uploaded 0, skipped 3" in out

    (local / "Test/Avocado ripe/r_2_100.jpg").write_bytes(b"d" * 31)  # size changed
    code, out, _ = run("upload", str(local))
    assert code == 0 and "uploaded 1, skipped 2" in out
    assert raw_objects()[raw + "Test/Avocado ripe/r_2_100.jpg"] == 31


def test_upload_to_a_missing_bucket_says_what_to_do(aws, run, tmp_path):
    code, _, err = run("upload", str(dataset(tmp_path / "fruits")))
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "NoSuchBucket" in err and BUCKET in err and "fruits-emr bucket" in err


# ---------------------------------------------------------------- deploy


def test_deploy_uploads_the_four_artifacts(aws, run, dist):
    run("bucket")
    code, _, _ = run("deploy", "--dist", str(dist))
    assert code == 0
    listing = s3().list_objects_v2(Bucket=BUCKET, Prefix=SETTINGS.deploy_key)["Contents"]
    assert {o["Key"] for o in listing} == {
        "fruits_pipeline/deploy/fruits_pipeline-0.1.0-py3-none-any.whl",
        "fruits_pipeline/deploy/conf-fruits_pipeline.tar.gz",
        "fruits_pipeline/deploy/bootstrap.sh",
        "fruits_pipeline/deploy/entrypoint.py",
    }
    body = s3().get_object(Bucket=BUCKET, Key="fruits_pipeline/deploy/bootstrap.sh")["Body"]
    assert body.read() == BOOTSTRAP.read_bytes()


def test_deploy_without_kedro_package_names_the_missing_path(aws, run, tmp_path):
    code, _, err = run("deploy", "--dist", str(tmp_path / "dist"))
    assert code == 1
    assert str(tmp_path / "dist") in err and "kedro package" in err


# ---------------------------------------------------------------- launch


def test_launch_creates_the_cluster_as_planned(aws, run, dist, sent):
    params = "featurization.images_per_partition=128,reduction.k=50"
    cluster_id = launched(run, dist, "--params", params)
    wheel = "fruits_pipeline-0.1.0-py3-none-any.whl"

    cluster = emr().describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["ReleaseLabel"] == SETTINGS.release_label == "emr-spark-8.0.0"
    assert cluster["LogUri"] == f"s3://{BUCKET}/fruits_pipeline/logs/"
    assert cluster["AutoTerminate"] is True  # keep_alive false
    assert cluster["VisibleToAllUsers"] is True
    assert {a["Name"] for a in cluster["Applications"]} == set(SETTINGS.applications)
    assert {"Key": "project", "Value": "fruits_pipeline"} in cluster["Tags"]
    assert cluster["ServiceRole"] == "EMR_DefaultRole"
    groups = emr().list_instance_groups(ClusterId=cluster_id)["InstanceGroups"]
    described = {
        (g["InstanceGroupType"], g["InstanceType"], g["RequestedInstanceCount"]) for g in groups
    }
    assert described == {("CORE", "m5.xlarge", 2), ("MASTER", "m5.xlarge", 1)}

    (action,) = emr().list_bootstrap_actions(ClusterId=cluster_id)["BootstrapActions"]
    assert action["ScriptPath"] == f"s3://{BUCKET}/fruits_pipeline/deploy/bootstrap.sh"
    assert action["Args"] == [
        f"s3://{BUCKET}/fruits_pipeline/deploy",
        wheel,
        "/opt/fruits_pipeline/venv",
    ]

    (step,) = emr().list_steps(ClusterId=cluster_id)["Steps"]
    assert step["ActionOnFailure"] == "TERMINATE_CLUSTER"
    assert step["Config"]["Jar"] == "command-runner.jar"
    assert step["Config"]["Args"] == plan.spark_submit_args(SETTINGS, params)
    assert step["Config"]["Args"][-2:] == [
        "--params",
        "featurization.images_per_partition=128,reduction.k=50",
    ]

    # What moto does not store: checked on the request really sent.
    (request,) = sent["RunJobFlow"]
    assert request["AutoTerminationPolicy"] == {"IdleTimeout": 1800}
    assert request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False
    assert request["JobFlowRole"] == "EMR_EC2_DefaultRole"
    assert request == plan.run_job_flow_args(SETTINGS, wheel, params)


def test_launch_prints_the_cost_first_and_refuses_without_deploy(aws, run, dist):
    run("bucket")
    code, _, err = run("launch")
    assert code == 1 and "fruits-emr deploy" in err and "kedro package" in err
    assert emr().list_clusters()["Clusters"] == []

    run("deploy", "--dist", str(dist))
    code, out, _ = run("launch")
    assert code == 0
    assert out.index("total") < out.index(re.search(r"j-[A-Z0-9]+", out).group(0))


def test_step_args_parse_as_spark_submit_and_point_where_bootstrap_puts_files():
    args = plan.spark_submit_args(SETTINGS, "a=1")
    assert args[0] == "spark-submit"
    # spark-submit: options (each with one value) up to the first non-option = the script.
    i, options = 1, {}
    while args[i].startswith("--"):
        options.setdefault(args[i], []).append(args[i + 1])
        i += 2
    script, app_args = args[i], args[i + 1 :]
    assert options == {
        "--master": ["yarn"],
        "--deploy-mode": ["client"],
        "--conf": [
            "spark.pyspark.python=/opt/fruits_pipeline/venv/bin/python",
            "spark.pyspark.driver.python=/opt/fruits_pipeline/venv/bin/python",
        ],
    }
    assert script == "/opt/fruits_pipeline/entrypoint.py"
    assert app_args == [
        "--env", "emr",
        "--conf-source", "/opt/fruits_pipeline/conf-fruits_pipeline.tar.gz",
        "--params", "a=1",
    ]  # fmt: skip
    assert "--params" not in plan.spark_submit_args(SETTINGS)
    # bootstrap.sh's default venv (the lead's local run) is the settings' one, and it copies
    # the files into the venv's parent folder.
    text = BOOTSTRAP.read_text()
    assert re.search(r'VENV="\$\{3:-(.+?)\}"', text).group(1) == SETTINGS.venv_path
    assert 'INSTALL_DIR="$(dirname "$VENV")"' in text
    assert '"$INSTALL_DIR/$name"' in text and "conf-fruits_pipeline.tar.gz entrypoint.py" in text


STUBS = {
    "sudo": 'exec "$@"',
    "dnf": 'echo "dnf $*" >> "$LOG"',
    "ldconfig": 'echo "	liblapack.so.3 (libc6,x86-64) => /usr/lib64/liblapack.so.3"',
    # aws s3 cp --only-show-errors s3://bucket/key dest: read from the fake bucket folder.
    "aws": 'echo "aws $*" >> "$LOG"; cp "$FAKE_S3/${4#s3://}" "$5"',
    "python3.11": (
        'echo "python3.11 $*" >> "$LOG"; mkdir -p "$3/bin"\n'
        'printf \'#!/usr/bin/env bash\\necho "venv-python $*" >> "$LOG"\\n\' > "$3/bin/python"\n'
        'chmod +x "$3/bin/python"'
    ),
}


def test_bootstrap_puts_files_where_the_step_expects_them(tmp_path):
    """Run bootstrap.sh with stub sudo/dnf/aws/python3.11: check what it installs and where."""
    bin_dir, fake_s3, log = tmp_path / "bin", tmp_path / "s3", tmp_path / "log"
    bin_dir.mkdir()
    for name, body in STUBS.items():
        (bin_dir / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    wheel = "fruits_pipeline-0.1.0-py3-none-any.whl"
    deploy = fake_s3 / BUCKET / "fruits_pipeline" / "deploy"
    deploy.mkdir(parents=True)
    for name in (wheel, plan.CONF_TARBALL, "entrypoint.py"):
        (deploy / name).write_text(name)
    # The settings' venv path moved under tmp_path: the step must follow it.
    settings = dataclasses.replace(SETTINGS, venv_path=str(tmp_path / "opt/fruits_pipeline/venv"))
    args = plan.bootstrap_action(settings, wheel)["ScriptBootstrapAction"]["Args"]
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(log), "FAKE_S3": str(fake_s3)}
    result = subprocess.run(
        ["bash", str(BOOTSTRAP), *args], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    calls = log.read_text().splitlines()
    assert "dnf install -y -q openblas lapack python3.11" in calls
    assert f"python3.11 -m venv {settings.venv_path}" in calls
    install_dir = Path(settings.install_dir)
    assert f"venv-python -m pip install -q --no-cache-dir {install_dir / wheel}" in calls

    step = plan.spark_submit_args(settings)
    entrypoint = Path(step[step.index("--env") - 1])
    conf_source = Path(step[step.index("--conf-source") + 1])
    python = Path(step[step.index("--conf") + 1].split("=", 1)[1])
    assert entrypoint.read_text() == "entrypoint.py"
    assert conf_source.read_text() == plan.CONF_TARBALL
    assert (install_dir / wheel).is_file() and python.is_file()
    assert "done" in result.stdout


def test_bootstrap_is_valid_bash():
    subprocess.run(["bash", "-n", str(BOOTSTRAP)], check=True)


def test_spark_version_mismatch_is_warned(run, tmp_path):
    code, _, err = run("launch", "--dry-run")
    assert code == 0 and "warning" not in err  # emr-spark-8.0.0: Spark 4.0 = pyspark 4.0
    other = yaml.safe_load(CONFIG.read_text())
    other["cluster"].update(release_label="emr-7.13.0", spark_version="3.5.6")
    other["kedro_globals"] = str(REPO / "conf" / "emr" / "globals.yml")
    (tmp_path / "emr.yml").write_text(yaml.safe_dump(other))
    code, _, err = run("launch", "--dry-run", config=tmp_path / "emr.yml")
    assert code == 0 and "warning" in err and "3.5.6" in err and "pyspark 4.0" in err


@pytest.mark.parametrize("bad", ["novalue", "s3_bucket=other", "=1"])
def test_bad_params_are_refused(run, bad):
    code, _, err = run("launch", "--dry-run", "--params", bad)
    assert code == 1 and "--params" in err


# ---------------------------------------------------------------- dry runs


def test_dry_runs_touch_nothing(aws, run, dist, tmp_path):
    for args in (
        ["bucket"],
        ["upload", str(dataset(tmp_path / "fruits"))],
        ["deploy", "--dist", str(dist)],
        ["launch", "--params", "a=1"],
        ["terminate", "j-NOTACLUSTER"],
    ):
        code, out, err = run(*args, "--dry-run")
        assert code == 0, err
        assert "[dry-run]" in out
    assert s3().list_buckets()["Buckets"] == []
    assert emr().list_clusters()["Clusters"] == []


def test_launch_dry_run_prints_the_exact_request(run):
    code, out, _ = run("launch", "--dry-run", "--params", "a=1")
    assert code == 0
    printed = out[out.index("emr.run_job_flow(**") + len("emr.run_job_flow(**") : out.rindex(")")]
    wheel = "fruits_pipeline-0.1.0-py3-none-any.whl"
    assert json.loads(printed) == plan.run_job_flow_args(SETTINGS, wheel, "a=1")


# ---------------------------------------------------------------- status / logs / terminate


def test_status_terminate_status(aws, run, dist):
    cluster_id = launched(run, dist)
    code, out, _ = run("status")  # default: the newest active cluster of the project
    assert code == 0 and cluster_id in out
    assert re.search(r"\b(STARTING|BOOTSTRAPPING|RUNNING|WAITING)\b", out)
    assert "kedro run fruits_pipeline" in out

    code, out, _ = run("terminate", cluster_id)
    assert code == 0 and cluster_id in out
    code, out, _ = run("status", cluster_id)
    assert code == 0 and re.search(r"\bTERMINAT(ING|ED)\b", out)
    code, _, err = run("status")
    assert code == 1 and "no active cluster" in err


def test_status_of_an_unknown_cluster_is_one_line(aws, run):
    code, _, err = run("status", "j-DOESNOTEXIST")
    assert code == 1 and "j-DOESNOTEXIST" in err and len(err.strip().splitlines()) == 1


def test_logs_print_step_stdout_and_stderr(aws, run, dist):
    cluster_id = launched(run, dist)
    (step,) = emr().list_steps(ClusterId=cluster_id)["Steps"]
    code, _, err = run("logs", cluster_id)
    assert code == 1 and "no logs yet" in err

    prefix = f"fruits_pipeline/logs/{cluster_id}/steps/{step['Id']}/"
    for name, text in (("stdout.gz", "kedro says hello"), ("stderr.gz", "spark says hi")):
        s3().put_object(Bucket=BUCKET, Key=prefix + name, Body=gzip.compress(text.encode()))
    code, out, _ = run("logs", cluster_id, "--step", step["Id"])
    assert code == 0 and "kedro says hello" in out and "spark says hi" in out


# ---------------------------------------------------------------- cost / iam / credentials


def test_cost_is_instance_hours_times_prices():
    settings_yml = yaml.safe_load(CONFIG.read_text())
    hours = settings_yml["cost"]["expected_run_hours"]
    prices = settings_yml["cost"]["prices_usd_per_hour"]
    expected = 0.0
    for group in ("master", "core"):
        spec = settings_yml["cluster"][group]
        price = prices[spec["instance_type"]]
        expected += spec["count"] * hours * (price["ec2"] + price["emr"])
    rows = plan.cost_rows(SETTINGS)
    assert sum(r["cost"] for r in rows) == pytest.approx(expected)
    assert [r["instance_hours"] for r in rows] == [hours * 1, hours * 2]


def test_cost_command_prints_the_total(run):
    code, out, _ = run("cost")
    total = float(re.search(r"^total\s+([\d.]+)$", out, re.M).group(1))
    assert code == 0 and total == pytest.approx(
        sum(r["cost"] for r in plan.cost_rows(SETTINGS)), abs=0.005
    )


def test_iam_policy_file_is_the_command_output_and_names_only_the_bucket(run):
    code, out, _ = run("iam-policy")
    assert code == 0
    assert (REPO / "deploy" / "iam-policy.json").read_text() == out
    policy = json.loads(out)
    resources = [s["Resource"] for s in policy["Statement"]]
    assert set(resources) == {
        f"arn:aws:s3:::{BUCKET}",
        f"arn:aws:s3:::{BUCKET}/fruits_pipeline/*",
    }
    actions = [a for s in policy["Statement"] for a in json.dumps(s["Action"]).split('"')]
    assert not [a for a in actions if a.startswith("s3:") and "*" in a]
    listing = next(s for s in policy["Statement"] if s["Action"] == "s3:ListBucket")
    assert listing["Condition"]["StringLike"]["s3:prefix"] == [
        "fruits_pipeline",
        "fruits_pipeline/*",
    ]


def test_missing_credentials_is_one_clear_line(run, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    code, out, err = run("bucket")
    assert code == 1
    assert err.strip().splitlines() == [
        "fruits-emr bucket: no AWS credentials found: run `aws configure`, set AWS_PROFILE, "
        "or use an instance profile"
    ]
    assert "Traceback" not in out + err and "testing" not in out + err


def test_missing_settings_file(run, tmp_path):
    code, _, err = run("cost", config=tmp_path / "nope.yml")
    assert code == 1 and "nope.yml" in err and "--config" in err
