"""`fruits-emr` against moto's AWS (S3 + EMR control plane): no network, no real account."""

from __future__ import annotations

import gzip
import hashlib
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
def aws(monkeypatch):
    """moto's AWS. moto skips the `Bool` condition operator when it evaluates a bucket
    policy, so the TLS-only policy (deny if aws:SecureTransport is false) would deny every
    request; boto3 talks HTTPS, where that policy denies nothing. The policy's content is
    checked in test_bucket_is_private_encrypted_tls_only_versioned_with_lifecycle."""
    from moto.iam.access_control import PermissionResult  # noqa: PLC0415
    from moto.s3.models import FakeBucket  # noqa: PLC0415

    tls_only = plan.bucket_policy(SETTINGS)
    original = FakeBucket.get_permission

    def get_permission(bucket, action, resource):
        if bucket.policy is not None and json.loads(bucket.policy) == tls_only:
            return PermissionResult.NEUTRAL
        return original(bucket, action, resource)

    monkeypatch.setattr(FakeBucket, "get_permission", get_permission)
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


WHEEL = "fruits_pipeline-0.1.0-py3-none-any.whl"


@pytest.fixture
def dist(tmp_path) -> Path:
    """What `fruits-emr package` leaves in dist/ (contents faked: only names and bytes matter
    to deploy; tests/s3/test_artifacts.py builds the real ones)."""
    folder = tmp_path / "dist"
    folder.mkdir()
    (folder / WHEEL).write_bytes(b"fake wheel")
    (folder / plan.CONF_TARBALL).write_bytes(b"fake conf")
    (folder / plan.LOCK_FILE).write_bytes(b"pyspark==4.0.1 --hash=sha256:00\n")
    return folder


def s3():
    return boto3.client("s3", region_name=REGION)


def emr():
    return boto3.client("emr", region_name=REGION)


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
    raw["kedro_spark"] = str(REPO / "conf" / "emr" / "spark.yml")
    (tmp_path / "emr.yml").write_text(yaml.safe_dump(raw))
    moved = load_settings(tmp_path / "emr.yml")
    assert moved.uri("deploy", "bootstrap.sh") == "s3://other-bucket/p2/deploy/bootstrap.sh"
    assert moved.region == "eu-west-1"


def test_output_dirs_cover_every_catalog_output():
    """The nodes may write only settings.output_dirs: every dataset of the catalog that is
    not a raw input must live under one of them, or the run dies of AccessDenied."""
    catalog = yaml.safe_load((REPO / "conf" / "base" / "catalog.yml").read_text())
    outside = {}
    for name, entry in catalog.items():
        if name.startswith("_") or not isinstance(entry, dict) or "filepath" not in entry:
            continue
        path = entry["filepath"]
        if "runtime_params" in path or "/01_raw/" in path:
            continue  # inputs: read-only
        folder = path.removeprefix("${globals:data_root}/").split("/")[0]
        if folder not in SETTINGS.output_dirs:
            outside[name] = path
    assert not outside, f"outputs outside output_dirs {SETTINGS.output_dirs}: {outside}"


# ---------------------------------------------------------------- bucket


def test_bucket_is_private_encrypted_tls_only_versioned_with_lifecycle(aws, run):
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
    assert s3().get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"

    policy = json.loads(s3().get_bucket_policy(Bucket=BUCKET)["Policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(deny["Resource"]) == {f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"}

    lifecycle = s3().get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    by_id = {rule["ID"]: rule for rule in lifecycle}
    logs = by_id["expire-emr-logs"]
    assert logs["Filter"] == {"Prefix": "fruits_pipeline/logs/"} and logs["Status"] == "Enabled"
    assert logs["Expiration"] == {"Days": SETTINGS.bucket_settings.log_expiry_days}
    versions = by_id["expire-noncurrent-versions-and-abort-uploads"]
    assert versions["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": SETTINGS.bucket_settings.noncurrent_version_expiry_days
    }
    assert versions["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": SETTINGS.bucket_settings.abort_incomplete_upload_days
    }

    code, out, _ = run("bucket")  # second call: nothing to create, settings re-applied
    assert code == 0 and "exists" in out
    assert [b["Name"] for b in s3().list_buckets()["Buckets"]] == [BUCKET]


def test_bucket_with_a_kms_key_uses_sse_kms_and_grants_the_key(aws, run, tmp_path):
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    raw = yaml.safe_load(CONFIG.read_text())
    raw["bucket"]["kms_key_arn"] = key
    for name in ("kedro_globals", "kedro_spark"):
        raw[name] = str((CONFIG.parent / raw[name]).resolve())
    (tmp_path / "emr.yml").write_text(yaml.safe_dump(raw))
    assert run("bucket", config=tmp_path / "emr.yml")[0] == 0
    (rule,) = s3().get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"][
        "Rules"
    ]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key,
    }
    assert rule["BucketKeyEnabled"] is True
    # The nodes' role may use that key (and only it).
    kms = [
        st
        for st in plan.data_policy(load_settings(tmp_path / "emr.yml"))["Statement"]
        if any(a.startswith("kms:") for a in st["Action"])
    ]
    assert [st["Resource"] for st in kms] == [key]


# ---------------------------------------------------------------- setup: roles, key, security


@pytest.fixture
def managed_policies(monkeypatch):
    """moto knows AWS managed policies (AmazonEMRServicePolicy_v2) only on request (slow)."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")


def test_setup_creates_dedicated_roles_key_and_security_configuration(managed_policies, aws, run):
    code, out, err = run("setup")
    assert code == 0, err
    iam = boto3.client("iam", region_name=REGION)
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    roles = SETTINGS.roles
    service = iam.get_role(RoleName=roles.service)["Role"]
    trust = service["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "elasticmapreduce.amazonaws.com"}
    attached = iam.list_attached_role_policies(RoleName=roles.service)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [plan.EMR_SERVICE_POLICY]
    passing = json.loads(
        json.dumps(
            iam.get_role_policy(RoleName=roles.service, PolicyName="pass-ec2-role")[
                "PolicyDocument"
            ]
        )
    )
    assert passing["Statement"][0]["Resource"] == f"arn:aws:iam::{account}:role/{roles.ec2}"

    ec2 = iam.get_role(RoleName=roles.ec2)["Role"]
    assert ec2["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ec2.amazonaws.com"
    }
    assert iam.list_attached_role_policies(RoleName=roles.ec2)["AttachedPolicies"] == []
    data = iam.get_role_policy(RoleName=roles.ec2, PolicyName="data")["PolicyDocument"]
    assert data == plan.data_policy(SETTINGS)
    profile = iam.get_instance_profile(InstanceProfileName=roles.ec2)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [roles.ec2]
    job = iam.get_role(RoleName=roles.serverless_job)["Role"]
    assert job["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "emr-serverless.amazonaws.com"
    }
    # Nothing was created or attached for EMR's default roles.
    names = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert not names & {"EMR_DefaultRole", "EMR_EC2_DefaultRole"}

    kms = boto3.client("kms", region_name=REGION)
    (alias,) = [
        a
        for a in kms.list_aliases()["Aliases"]
        if a["AliasName"] == SETTINGS.cluster.local_disk_key_alias
    ]
    key_policy = json.loads(
        kms.get_key_policy(KeyId=alias["TargetKeyId"], PolicyName="default")["Policy"]
    )
    users = next(s for s in key_policy["Statement"] if s["Sid"] == "NodesEncryptTheirDisks")
    assert set(users["Principal"]["AWS"]) == {
        f"arn:aws:iam::{account}:role/{roles.ec2}",
        f"arn:aws:iam::{account}:role/{roles.service}",
    }

    emr_client = emr()
    described = emr_client.describe_security_configuration(
        Name=SETTINGS.cluster.security_configuration
    )
    config = json.loads(described["SecurityConfiguration"])
    at_rest = config["EncryptionConfiguration"]["AtRestEncryptionConfiguration"]
    assert config["EncryptionConfiguration"]["EnableAtRestEncryption"] is True
    assert at_rest["S3EncryptionConfiguration"] == {"EncryptionMode": "SSE-S3"}
    disks = at_rest["LocalDiskEncryptionConfiguration"]
    assert disks["EncryptionKeyProviderType"] == "AwsKms" and disks["EnableEbsEncryption"]
    assert disks["AwsKmsKey"].endswith(SETTINGS.cluster.local_disk_key_alias)
    assert config["InstanceMetadataServiceConfiguration"] == {
        "MinimumInstanceMetadataServiceVersion": 2,
        "HttpPutResponseHopLimit": 1,
    }

    code, out, _ = run("setup")  # idempotent
    assert code == 0 and "exists" in out
    assert len(kms.list_keys()["Keys"]) == 1


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


RAW = "fruits_pipeline/data/01_raw/fruits-360/"


def test_upload_images_then_skip_them_by_content(aws, run, tmp_path):
    run("bucket")
    local = dataset(tmp_path / "fruits")
    code, out, _ = run("upload", str(local))
    assert code == 0
    assert "uploaded 3, skipped 0" in out and "ignored 2" in out
    assert raw_objects() == {
        RAW + "Training/Apple Red 1/r_0_100.jpg": 10,
        RAW + "Training/Apple Red 1/r_1_100.JPEG": 20,
        RAW + "Test/Avocado ripe/r_2_100.jpg": 30,
    }

    code, out, _ = run("upload", str(local))
    assert code == 0 and "uploaded 0, skipped 3" in out

    changed = local / "Test/Avocado ripe/r_2_100.jpg"
    changed.write_bytes(b"d" * 30)  # same size, new content: must be sent again
    code, out, _ = run("upload", str(local))
    assert code == 0 and "uploaded 1, skipped 2" in out
    body = s3().get_object(Bucket=BUCKET, Key=RAW + "Test/Avocado ripe/r_2_100.jpg")["Body"]
    assert body.read() == b"d" * 30


def test_local_etag_matches_what_s3_reports_for_multipart_uploads(aws, tmp_path):
    s3().create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    for size in (0, 5, cli.MULTIPART_CHUNK, cli.MULTIPART_CHUNK * 2 + 3):
        path = tmp_path / f"f{size}"
        path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
        s3().upload_file(str(path), BUCKET, path.name)  # boto3's own multipart rules
        etag = s3().head_object(Bucket=BUCKET, Key=path.name)["ETag"].strip('"')
        assert cli.local_etag(path) == etag, size
    assert "-" in cli.local_etag(tmp_path / f"f{cli.MULTIPART_CHUNK * 2 + 3}")


def test_upload_to_a_missing_bucket_says_what_to_do(aws, run, tmp_path):
    code, _, err = run("upload", str(dataset(tmp_path / "fruits")))
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "NoSuchBucket" in err and BUCKET in err and "fruits-emr bucket" in err


def test_upload_failure_is_one_line_not_a_traceback(aws, run, tmp_path, monkeypatch):
    """S3UploadFailedError (what upload_file raises) is caught like any AWS error."""
    run("bucket")
    local = dataset(tmp_path / "fruits")
    original = cli.App.client

    def refusing(self, service):
        client = original(self, service)
        if service == "s3":

            def deny(**_):
                raise __import__("botocore.exceptions").exceptions.ClientError(
                    {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject"
                )

            client.meta.events.register("before-call.s3.PutObject", deny)
        return client

    monkeypatch.setattr(cli.App, "client", refusing)
    code, out, err = run("upload", str(local))
    assert code == 1 and "Traceback" not in out + err
    (line,) = err.strip().splitlines()
    assert "upload failed" in line and "AccessDenied" in line and "lack the permission" in line


# ---------------------------------------------------------------- deploy


def deployed_keys() -> set[str]:
    listing = s3().list_objects_v2(Bucket=BUCKET, Prefix=SETTINGS.deploy_key)
    return {o["Key"] for o in listing.get("Contents", [])}


def test_deploy_is_content_addressed_and_never_overwrites(aws, run, dist):
    run("bucket")
    code, out, _ = run("deploy", "--dist", str(dist))
    assert code == 0
    files = [dist / WHEEL, dist / plan.CONF_TARBALL, dist / plan.LOCK_FILE,
             REPO / "deploy" / "bootstrap.sh", REPO / "deploy" / "entrypoint.py"]  # fmt: skip
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    first = plan.deployment_id(digests)
    assert f"deployment {first}" in out
    prefix = f"fruits_pipeline/deploy/{first}/"
    assert deployed_keys() == {prefix + p.name for p in files} | {
        prefix + "SHA256SUMS",
        "fruits_pipeline/deploy/LATEST",
    }
    sums = s3().get_object(Bucket=BUCKET, Key=prefix + "SHA256SUMS")["Body"].read().decode()
    assert sorted(sums.splitlines()) == sorted(f"{d}  {n}" for n, d in digests.items())
    body = s3().get_object(Bucket=BUCKET, Key=prefix + "bootstrap.sh")["Body"]
    assert body.read() == BOOTSTRAP.read_bytes()

    # A new build: a new prefix beside the old one, which stays complete and unchanged.
    (dist / plan.CONF_TARBALL).write_bytes(b"other conf")
    code, out, _ = run("deploy", "--dist", str(dist))
    assert code == 0
    second = re.search(r"deployment ([0-9a-f]{16})", out).group(1)
    assert second != first
    old = s3().get_object(Bucket=BUCKET, Key=prefix + plan.CONF_TARBALL)["Body"].read()
    assert old == b"fake conf"
    latest = json.loads(
        s3().get_object(Bucket=BUCKET, Key="fruits_pipeline/deploy/LATEST")["Body"].read()
    )
    assert latest == {"id": second, "wheel": WHEEL}


def test_deploy_without_package_names_the_missing_path(aws, run, tmp_path):
    code, _, err = run("deploy", "--dist", str(tmp_path / "dist"))
    assert code == 1
    assert str(tmp_path / "dist") in err and "fruits-emr package" in err


def test_deploy_upload_failure_is_one_line(aws, run, dist):
    """No bucket: upload_file raises S3UploadFailedError, which used to be a traceback."""
    code, out, err = run("deploy", "--dist", str(dist))
    assert code == 1 and "Traceback" not in out + err
    (line,) = err.strip().splitlines()
    assert "upload failed" in line and "NoSuchBucket" in line and "fruits-emr bucket" in line


# ---------------------------------------------------------------- launch


def launched(run, dist, *extra) -> str:
    assert run("bucket")[0] == 0
    assert run("deploy", "--dist", str(dist))[0] == 0
    code, out, err = run("launch", *extra)
    assert code == 0, err
    return re.search(r"\bj-[A-Z0-9]+\b", out).group(0)


def latest_deployment() -> str:
    body = s3().get_object(Bucket=BUCKET, Key="fruits_pipeline/deploy/LATEST")["Body"].read()
    return json.loads(body)["id"]


def test_launch_creates_the_cluster_as_planned(aws, run, dist, sent):
    params = "featurization.images_per_partition=128,reduction.k=50"
    cluster_id = launched(run, dist, "--params", params)
    deployment = plan.Deployment(latest_deployment(), WHEEL)

    cluster = emr().describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["ReleaseLabel"] == SETTINGS.cluster.release_label == "emr-spark-8.0.0"
    assert cluster["LogUri"] == f"s3://{BUCKET}/fruits_pipeline/logs/"
    assert cluster["AutoTerminate"] is True  # keep_alive false
    assert cluster["VisibleToAllUsers"] is True
    assert {a["Name"] for a in cluster["Applications"]} == set(SETTINGS.cluster.applications)
    assert {"Key": "project", "Value": "fruits_pipeline"} in cluster["Tags"]
    assert {"Key": "deployment", "Value": deployment.id} in cluster["Tags"]
    assert cluster["ServiceRole"] == "fruits-pipeline-emr-service"
    assert cluster["SecurityConfiguration"] == SETTINGS.cluster.security_configuration
    groups = emr().list_instance_groups(ClusterId=cluster_id)["InstanceGroups"]
    described = {
        (g["InstanceGroupType"], g["InstanceType"], g["RequestedInstanceCount"]) for g in groups
    }
    assert described == {("CORE", "m5.xlarge", 2), ("MASTER", "m5.xlarge", 1)}

    (action,) = emr().list_bootstrap_actions(ClusterId=cluster_id)["BootstrapActions"]
    prefix = f"s3://{BUCKET}/fruits_pipeline/deploy/{deployment.id}"
    assert action["ScriptPath"] == f"{prefix}/bootstrap.sh"
    assert action["Args"] == [prefix, WHEEL, "/opt/fruits_pipeline/venv"]

    (step,) = emr().list_steps(ClusterId=cluster_id)["Steps"]
    assert deployment.id in step["Name"]  # what ran is recorded in the step
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
    assert request["JobFlowRole"] == "fruits-pipeline-emr-ec2"
    assert request == plan.run_job_flow_args(SETTINGS, deployment, params)


def test_launch_runs_an_older_deployment_on_request(aws, run, dist):
    cluster_id = launched(run, dist)
    first = latest_deployment()
    (dist / plan.CONF_TARBALL).write_bytes(b"newer conf")
    assert run("deploy", "--dist", str(dist))[0] == 0
    assert latest_deployment() != first
    code, out, err = run("launch", "--deployment", first)
    assert code == 0, err
    other = re.search(r"\bj-[A-Z0-9]+\b", out).group(0)
    assert other != cluster_id
    (action,) = emr().list_bootstrap_actions(ClusterId=other)["BootstrapActions"]
    assert f"/deploy/{first}/" in action["ScriptPath"]
    code, _, err = run("launch", "--deployment", "0123456789abcdef")
    assert code == 1 and "0123456789abcdef" in err and "lacks" in err


def test_launch_prints_the_cost_first_and_refuses_without_deploy(aws, run, dist):
    run("bucket")
    code, _, err = run("launch")
    assert code == 1 and "fruits-emr deploy" in err and "fruits-emr package" in err
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
    spark_yml = yaml.safe_load((REPO / "conf" / "emr" / "spark.yml").read_text())
    assert options == {
        "--master": ["yarn"],
        "--deploy-mode": ["client"],
        # In client mode only spark-submit can size the driver JVM: from conf/emr/spark.yml.
        "--driver-memory": [spark_yml["spark.driver.memory"]],
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
    text = BOOTSTRAP.read_text()
    assert re.search(r'VENV="\$\{3:-(.+?)\}"', text).group(1) == SETTINGS.venv_path
    assert 'INSTALL_DIR="$(dirname "$VENV")"' in text


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


def fake_node(tmp_path: Path, tamper: bool = False):
    """A fake S3 deployment (deploy/<id>/ with SHA256SUMS) and stub dnf/aws/python3.11."""
    bin_dir, fake_s3, log = tmp_path / "bin", tmp_path / "s3", tmp_path / "log"
    bin_dir.mkdir()
    for name, body in STUBS.items():
        (bin_dir / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    names = [WHEEL, plan.CONF_TARBALL, plan.LOCK_FILE, *plan.SCRIPTS]
    digests = {name: hashlib.sha256(name.encode()).hexdigest() for name in names}
    deployment = plan.Deployment(plan.deployment_id(digests), WHEEL)
    deploy = fake_s3 / BUCKET / "fruits_pipeline" / "deploy" / deployment.id
    deploy.mkdir(parents=True)
    for name in names:
        (deploy / name).write_text(name)
    (deploy / "SHA256SUMS").write_text("".join(f"{d}  {n}\n" for n, d in digests.items()))
    if tamper:
        (deploy / plan.LOCK_FILE).write_text("evil==1.0")
    settings = SETTINGS.model_copy(update={"venv_path": str(tmp_path / "opt/fruits_pipeline/venv")})
    args = plan.bootstrap_action(settings, deployment)["ScriptBootstrapAction"]["Args"]
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(log), "FAKE_S3": str(fake_s3)}
    result = subprocess.run(
        ["bash", str(BOOTSTRAP), *args], env=env, capture_output=True, text=True, check=False
    )
    return settings, result, log


def test_bootstrap_checks_hashes_installs_the_lock_and_puts_files_where_the_step_expects(
    tmp_path,
):
    """Run bootstrap.sh with stub sudo/dnf/aws/python3.11: check what it installs and where."""
    settings, result, log = fake_node(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = log.read_text().splitlines()
    assert "dnf install -y -q openblas lapack python3.11" in calls
    assert f"python3.11 -m venv {settings.venv_path}" in calls
    install_dir = Path(settings.install_dir)
    pip = [c for c in calls if c.startswith("venv-python -m pip install")]
    assert pip == [
        "venv-python -m pip install -q --no-cache-dir --require-hashes --no-deps "
        f"-r {install_dir / plan.LOCK_FILE}",
        f"venv-python -m pip install -q --no-cache-dir --no-deps --no-index {install_dir / WHEEL}",
    ]
    assert "venv-python -m pip check" in calls
    assert not [c for c in calls if "--upgrade" in c]  # nothing unpinned

    step = plan.spark_submit_args(settings)
    entrypoint = Path(step[step.index("--env") - 1])
    conf_source = Path(step[step.index("--conf-source") + 1])
    python = Path(step[step.index("--conf") + 1].split("=", 1)[1])
    assert entrypoint.read_text() == "entrypoint.py"
    assert conf_source.read_text() == plan.CONF_TARBALL
    assert (install_dir / WHEEL).is_file() and python.is_file()
    assert "done" in result.stdout


def test_bootstrap_stops_on_a_tampered_file(tmp_path):
    _, result, log = fake_node(tmp_path, tamper=True)
    assert result.returncode != 0
    assert not [c for c in log.read_text().splitlines() if "pip install" in c]


def test_bootstrap_is_valid_bash_and_shellcheck_clean():
    subprocess.run(["bash", "-n", str(BOOTSTRAP)], check=True)
    shellcheck = Path(sys.executable).with_name("shellcheck")
    result = subprocess.run(
        [str(shellcheck), "--severity=style", str(BOOTSTRAP)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    text = BOOTSTRAP.read_text()
    assert "set -euo pipefail" in text
    # No `producer | grep -q`: under pipefail the producer can die of SIGPIPE.
    assert not re.search(r"\|\s*grep\s+-q", text)


def test_spark_version_mismatch_is_warned(run, tmp_path):
    code, _, err = run("launch", "--dry-run")
    assert code == 0 and "warning" not in err  # emr-spark-8.0.0: Spark 4.0 = pyspark 4.0
    other = yaml.safe_load(CONFIG.read_text())
    other["cluster"].update(release_label="emr-7.13.0", spark_version="3.5.6")
    for name in ("kedro_globals", "kedro_spark"):
        other[name] = str((CONFIG.parent / other[name]).resolve())
    (tmp_path / "emr.yml").write_text(yaml.safe_dump(other))
    code, _, err = run("launch", "--dry-run", config=tmp_path / "emr.yml")
    assert code == 0 and "warning" in err and "3.5.6" in err and "pyspark 4.0" in err


@pytest.mark.parametrize("bad", ["novalue", "s3_bucket=other", "=1"])
def test_bad_params_are_refused(run, bad):
    code, _, err = run("launch", "--dry-run", "--params", bad)
    assert code == 2 and "--params" in err and "Traceback" not in err


# ---------------------------------------------------------------- dry runs


def test_dry_runs_touch_nothing(aws, run, dist, tmp_path):
    for args in (
        ["setup"],
        ["bucket"],
        ["upload", str(dataset(tmp_path / "fruits"))],
        ["deploy", "--dist", str(dist)],
        ["launch", "--params", "a=1"],
        ["terminate", "j-NOTACLUSTER"],
        ["serverless", "run"],
        ["serverless", "delete"],
    ):
        code, out, err = run(*args, "--dry-run")
        assert code == 0, err
        assert "[dry-run]" in out
    assert s3().list_buckets()["Buckets"] == []
    assert emr().list_clusters()["Clusters"] == []
    iam = boto3.client("iam", region_name=REGION)
    assert not {r["RoleName"] for r in iam.list_roles()["Roles"]} & set(
        SETTINGS.roles.model_dump().values()
    )
    assert boto3.client("kms", region_name=REGION).list_keys()["Keys"] == []


def test_launch_dry_run_prints_the_exact_request(run):
    code, out, _ = run("launch", "--dry-run", "--params", "a=1")
    assert code == 0
    printed = out[out.index("emr.run_job_flow(**") + len("emr.run_job_flow(**") : out.rindex(")")]
    deployment = plan.Deployment("DEPLOYMENT_ID", WHEEL)
    assert json.loads(printed) == plan.run_job_flow_args(SETTINGS, deployment, "a=1")


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


# ---------------------------------------------------------------- cost / credentials


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
    assert code == 2 and "nope.yml" in err and "--config" in err
