"""fruits-emr against the real local S3 server (SeaweedFS): the bucket hardening where the
server supports it, and no secret in the conf tarball or in what deploy puts in the bucket."""

from __future__ import annotations

import gzip
import json
import secrets
import shutil
import tarfile
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from fruits_pipeline.emr import artifacts, cli, plan
from fruits_pipeline.emr.settings import load_settings
from scripts.local_s3 import BUCKET, REGION
from tests.conftest import REPO

pytestmark = pytest.mark.s3

SETTINGS = load_settings(REPO / "deploy" / "emr.yml")


# ---------------------------------------------------------------- bucket


def test_bucket_settings_on_the_local_server(local_s3):
    """Every call of `fruits-emr bucket`, on a bucket of its own. SeaweedFS has no public
    access block (NotImplemented: checked on moto only). Its bucket policies are enforced:
    the TLS-only policy refuses the server's plain-HTTP requests from then on."""
    name = "fruits-hardening-" + secrets.token_hex(4)
    settings = SETTINGS.model_copy(update={"bucket": name})
    client = local_s3.client()
    outcome = {}
    for op, kwargs in plan.bucket_calls(settings):
        try:
            getattr(client, op)(**kwargs)
            outcome[op] = "ok"
        except ClientError as error:
            outcome[op] = error.response["Error"]["Code"]
        if op == "put_bucket_lifecycle_configuration":  # before the policy locks us out
            assert client.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
            rules = client.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
            assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {
                "SSEAlgorithm": "AES256"
            }
            lifecycle = client.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
            assert {r["ID"] for r in lifecycle} == {
                r["ID"] for r in plan.lifecycle_rules(settings)["Rules"]
            }
            logs = next(r for r in lifecycle if r["ID"] == "expire-emr-logs")
            assert logs["Filter"] == {"Prefix": "fruits_pipeline/logs/"}
            assert logs["Expiration"] == {"Days": settings.bucket_settings.log_expiry_days}
            ownership = client.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]
            assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert outcome == {
        "create_bucket": "ok",
        "put_public_access_block": "NotImplemented",
        "put_bucket_ownership_controls": "ok",
        "put_bucket_encryption": "ok",
        "put_bucket_versioning": "ok",
        "put_bucket_lifecycle_configuration": "ok",
        "put_bucket_policy": "ok",
    }
    assert local_s3.endpoint.startswith("http://")  # no TLS here: now refused
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=name, Key="fruits_pipeline/data/x.jpg", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError):
        client.list_objects_v2(Bucket=name)


# ---------------------------------------------------------------- no secrets


SECRET = "NOT-FOR-S3-" + secrets.token_hex(8)  # planted in every secret file
PLANTED = [
    "emr/credentials.yml",
    "base/credentials_aws.yml",
    "s3_local/nested/credentials.yaml",
    "local/.env",
    "emr/.env",
    "emr/cluster.pem",
    "base/secrets.yml",
    "local/credentials.yml",
    "local/parameters_extra.yml",  # conf/local is never shipped, secret or not
    "emr/notes.txt",  # not YAML
]


def plant(conf: Path) -> None:
    for relative in PLANTED:
        path = conf / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"aws_secret_access_key: {SECRET}\n")


def expected_members(conf: Path) -> set[str]:
    """Independent of the implementation: YAML of the shipped envs, minus the planted."""
    shipped = {"base", "emr", "s3_local"}
    return {
        f"conf/{p.relative_to(conf).as_posix()}"
        for p in conf.rglob("*.y*ml")
        if p.relative_to(conf).parts[0] in shipped and p.relative_to(conf).as_posix() not in PLANTED
    }


def tar_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_conf_tarball_is_an_allow_list(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    plant(conf)
    target = tmp_path / plan.CONF_TARBALL
    artifacts.write_conf_tarball(conf, target)
    members = tar_members(target)
    assert set(members) == expected_members(conf)
    assert "conf/emr/globals.yml" in members and "conf/base/catalog.yml" in members
    assert SECRET.encode() not in gzip.decompress(target.read_bytes())
    # Reproducible: the same conf gives the same bytes (the deployment id depends on them).
    again = tmp_path / "again.tar.gz"
    artifacts.write_conf_tarball(conf, again)
    assert again.read_bytes() == target.read_bytes()


def test_deploy_puts_only_the_allow_list_in_the_bucket(s3_env, tmp_path, monkeypatch, capsys):
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    plant(conf)
    dist = tmp_path / "dist"
    dist.mkdir()
    artifacts.write_conf_tarball(conf, dist / plan.CONF_TARBALL)
    (dist / "fruits_pipeline-0.1.0-py3-none-any.whl").write_bytes(b"wheel bytes")
    (dist / plan.LOCK_FILE).write_text("pyspark==4.0.1 --hash=sha256:00\n")
    (dist / ".env").write_text(SECRET)  # beside the artifacts: must stay there
    (dist / "credentials.yml").write_text(SECRET)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_env.endpoint)
    code = cli.main(["--config", str(REPO / "deploy" / "emr.yml"), "deploy", "--dist", str(dist)])
    out, err = capsys.readouterr()
    assert code == 0, err

    client = boto3.client("s3", endpoint_url=s3_env.endpoint, region_name=REGION,
                          aws_access_key_id=s3_env.access_key,
                          aws_secret_access_key=s3_env.secret_key)  # fmt: skip
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=SETTINGS.deploy_key)
    keys = sorted(o["Key"] for o in listing["Contents"])
    deployment = json.loads(
        client.get_object(Bucket=BUCKET, Key=plan.latest_pointer_key(SETTINGS))["Body"].read()
    )["id"]
    prefix = f"{SETTINGS.deploy_key}{deployment}/"
    assert keys == sorted(
        [plan.latest_pointer_key(SETTINGS)]
        + [prefix + n for n in ("fruits_pipeline-0.1.0-py3-none-any.whl", plan.CONF_TARBALL,
                                plan.LOCK_FILE, "bootstrap.sh", "entrypoint.py", "SHA256SUMS")]
    )  # fmt: skip
    for key in keys:
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        if key.endswith(".tar.gz"):
            assert set(tar_members(_to_file(tmp_path, body))) == expected_members(conf)
            body = gzip.decompress(body)
        assert SECRET.encode() not in body, key
    assert "credentials" not in out + err and SECRET not in out + err


def _to_file(folder: Path, body: bytes) -> Path:
    path = folder / "downloaded.tar.gz"
    path.write_bytes(body)
    return path


def test_is_secret_names():
    for name in ("credentials.yml", "conf/emr/.env", "a/server.pem", "AWS_Credentials.yaml",
                 "x/.hidden.yml", "secrets.yml", "id.key"):  # fmt: skip
        assert artifacts.is_secret(Path(name)), name
    for name in ("conf/emr/globals.yml", "conf/base/catalog.yml", "conf/s3_local/spark.yml"):
        assert not artifacts.is_secret(Path(name)), name


def test_upload_skips_by_content_on_the_local_server(s3_env, tmp_path, monkeypatch, capsys):
    """The ETag the real server gives an uploaded photo is the MD5 `upload` compares."""
    local = tmp_path / "fruits"
    for name, data in (("Training/Kiwi/a.jpg", b"a" * 100), ("Test/Kiwi/b.JPG", b"b" * 200)):
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_env.endpoint)
    config = str(REPO / "deploy" / "emr.yml")

    def upload() -> str:
        code = cli.main(["--config", config, "upload", str(local)])
        out, err = capsys.readouterr()
        assert code == 0, err
        return out

    assert "uploaded 2, skipped 0" in upload()
    assert "uploaded 0, skipped 2" in upload()
    (local / "Test/Kiwi/b.JPG").write_bytes(b"c" * 200)  # same size, new content
    assert "uploaded 1, skipped 1" in upload()
    key = SETTINGS.raw_key + "Test/Kiwi/b.JPG"
    assert s3_env.client().get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"c" * 200
