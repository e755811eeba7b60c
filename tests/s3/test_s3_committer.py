"""No rename-based commit to S3: Spark writes of the s3_local env go through Hadoop's S3A
magic committer, on the real local S3 server. Its _SUCCESS file is JSON naming the
committer and the files it committed; CommittedSparkDataset still loads that version."""

from __future__ import annotations

import json
import secrets

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io.core import Version
from pyspark.sql import functions as F

from fruits_pipeline.datasets import CommittedSparkDataset
from fruits_pipeline.settings import CONFIG_LOADER_ARGS
from scripts.local_s3 import BUCKET
from tests.conftest import REPO

pytestmark = pytest.mark.s3


def s3_local_spark_settings() -> dict[str, str]:
    args = {k: v for k, v in CONFIG_LOADER_ARGS.items() if k != "default_run_env"}
    loaded = OmegaConfigLoader(str(REPO / "conf"), env="s3_local", **args)["spark"]
    return {str(k): str(v) for k, v in loaded.items()}


@pytest.fixture
def s3a_session(spark, s3_env):
    """A session with conf/s3_local/spark.yml's S3 and committer settings, pointed at this
    session's server; the shared context's Hadoop settings are restored afterwards."""
    settings = s3_local_spark_settings()
    settings["spark.hadoop.fs.s3a.endpoint"] = s3_env.endpoint
    settings["spark.hadoop.fs.s3a.access.key"] = s3_env.access_key
    settings["spark.hadoop.fs.s3a.secret.key"] = s3_env.secret_key
    session = spark.newSession()
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    saved = {}
    for key, value in settings.items():
        if key.startswith("spark.sql."):
            session.conf.set(key, value)
        elif key.startswith("spark.hadoop."):
            name = key.removeprefix("spark.hadoop.")
            saved[name] = hadoop.get(name)
            hadoop.set(name, value)
    yield session
    for name, value in saved.items():
        if value is None:
            hadoop.unset(name)
        else:
            hadoop.set(name, value)


def test_s3_local_env_selects_the_magic_committer():
    settings = s3_local_spark_settings()
    assert settings["spark.hadoop.fs.s3a.committer.name"] == "magic"
    assert settings["spark.sql.sources.commitProtocolClass"] == (
        "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol"
    )
    assert settings["spark.sql.parquet.output.committer.class"] == (
        "org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter"
    )


def test_parquet_write_is_committed_by_the_magic_committer(s3a_session, s3_env):
    root = f"committer-test/{secrets.token_hex(4)}"
    frame = s3a_session.range(0, 1000, numPartitions=4).withColumn("square", F.col("id") ** 2)
    dataset = CommittedSparkDataset(
        filepath=f"s3a://{BUCKET}/{root}/table.parquet",
        file_format="parquet",
        version=Version(None, None),
    )
    dataset.save(frame)

    client = s3_env.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=root)["Contents"]]
    (success,) = [k for k in keys if k.endswith("/_SUCCESS")]
    marker = json.loads(client.get_object(Bucket=BUCKET, Key=success)["Body"].read())
    assert marker["committer"] == "magic"
    assert marker["name"].startswith("org.apache.hadoop.fs.s3a.commit.files.SuccessData")
    parts = sorted(k for k in keys if k.endswith(".parquet") and "/part-" in k)
    assert len(parts) == 4
    assert sorted(f.lstrip("/") for f in marker["filenames"]) == parts
    # Nothing left of the upload staging (no __magic folder, no _temporary to rename).
    assert not [k for k in keys if "__magic" in k or "_temporary" in k]
    assert not client.list_multipart_uploads(Bucket=BUCKET, Prefix=root).get("Uploads")

    loaded = dataset.load()  # the newest version whose _SUCCESS exists: this one
    assert loaded.count() == 1000
    assert loaded.agg(F.sum("square")).first()[0] == sum(i * i for i in range(1000))
