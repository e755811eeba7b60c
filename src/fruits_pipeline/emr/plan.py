"""Pure builders of what `fruits-emr` sends to AWS: the CLI runs them, tests and
`--dry-run` print them. No boto3 here."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fruits_pipeline.emr.settings import CliError, Settings

PACKAGE = "fruits_pipeline"
CONF_TARBALL = f"conf-{PACKAGE}.tar.gz"  # what `kedro package` writes to dist/
IMAGE_SUFFIXES = (".jpg", ".jpeg")  # compared lower-case, like the catalog's glob
RESERVED_PARAMS = ("s3_bucket", "s3_prefix")  # globals: conf/emr/globals.yml only


def parse_params(text: str | None) -> list[str]:
    """`k=v,k2=v2` -> ["k=v", "k2=v2"], checked (kedro's --params syntax)."""
    items = [item.strip() for item in (text or "").split(",") if item.strip()]
    for item in items:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--params: {item!r} is not key=value")
        if key.strip() in RESERVED_PARAMS:
            raise CliError(
                f"--params: {key} is not a run parameter; set it in conf/emr/globals.yml, "
                "then kedro package and fruits-emr deploy again"
            )
    return items


def spark_submit_args(settings: Settings, extra_params: str | None = None) -> list[str]:
    """The EMR step's command (command-runner.jar): the only place it is built."""
    python = f"{settings.venv_path}/bin/python"
    params = parse_params(extra_params)
    return [
        "spark-submit",
        "--master", "yarn",
        "--deploy-mode", "client",
        "--conf", f"spark.pyspark.python={python}",
        "--conf", f"spark.pyspark.driver.python={python}",
        f"{settings.install_dir}/entrypoint.py",
        "--env", "emr",
        "--conf-source", f"{settings.install_dir}/{CONF_TARBALL}",
        *(["--params", ",".join(params)] if params else []),
    ]  # fmt: skip


def bootstrap_action(settings: Settings, wheel_name: str) -> dict:
    """deploy/bootstrap.sh <s3 deploy prefix> <wheel file name> <venv path>."""
    return {
        "Name": f"install {PACKAGE}",
        "ScriptBootstrapAction": {
            "Path": settings.uri("deploy", "bootstrap.sh"),
            "Args": [settings.uri("deploy"), wheel_name, settings.venv_path],
        },
    }


def run_job_flow_args(settings: Settings, wheel_name: str, extra_params: str | None) -> dict:
    instances: dict = {
        "InstanceGroups": [
            {
                "Name": group.role.title(),
                "Market": "ON_DEMAND",
                "InstanceRole": group.role,
                "InstanceType": group.instance_type,
                "InstanceCount": group.count,
            }
            for group in settings.groups
        ],
        "KeepJobFlowAliveWhenNoSteps": settings.keep_alive,
        "TerminationProtected": False,
    }
    if settings.ec2_key_name:
        instances["Ec2KeyName"] = settings.ec2_key_name
    if settings.subnet_id:
        instances["Ec2SubnetId"] = settings.subnet_id
    return {
        "Name": settings.cluster_name,
        "ReleaseLabel": settings.release_label,
        "Applications": [{"Name": name} for name in settings.applications],
        "Instances": instances,
        "AutoTerminationPolicy": {"IdleTimeout": settings.idle_timeout_seconds},
        "LogUri": settings.log_uri,
        "BootstrapActions": [bootstrap_action(settings, wheel_name)],
        "Steps": [
            {
                "Name": f"kedro run {PACKAGE}",
                "ActionOnFailure": "TERMINATE_CLUSTER",
                "HadoopJarStep": {
                    "Jar": "command-runner.jar",
                    "Args": spark_submit_args(settings, extra_params),
                },
            }
        ],
        "ServiceRole": settings.service_role,
        "JobFlowRole": settings.instance_profile,
        "Tags": [{"Key": k, "Value": v} for k, v in settings.tags.items()],
        "VisibleToAllUsers": True,
    }


def bucket_calls(settings: Settings) -> list[tuple[str, dict]]:
    """(s3 operation, kwargs) making the bucket private, encrypted and owner-enforced."""
    create: dict = {"Bucket": settings.bucket}
    if settings.region != "us-east-1":  # us-east-1 rejects an explicit constraint
        create["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
    block = dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
        True,
    )
    # SSE-S3 (AES256): no KMS key to manage, pay for or grant to the cluster's role.
    sse = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    bucket = settings.bucket
    ownership = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    return [
        ("create_bucket", create),
        ("put_public_access_block", {"Bucket": bucket, "PublicAccessBlockConfiguration": block}),
        ("put_bucket_encryption", {"Bucket": bucket, "ServerSideEncryptionConfiguration": sse}),
        ("put_bucket_ownership_controls", {"Bucket": bucket, "OwnershipControls": ownership}),
    ]


def iam_policy(settings: Settings) -> dict:
    """Least privilege for the cluster's EC2 role: the project's prefix of its bucket only.
    EMR's log pusher writes <prefix>/logs/ with PutObject, covered by the object statement."""
    bucket_arn, prefix = f"arn:aws:s3:::{settings.bucket}", settings.prefix
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListProjectPrefix",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
            },
            {
                # Clients (s3fs, EMRFS) look the bucket's region up.
                "Sid": "BucketLocation",
                "Effect": "Allow",
                "Action": "s3:GetBucketLocation",
                "Resource": bucket_arn,
            },
            {
                # Data in and out, deploy artifacts (bootstrap), EMR logs; multipart
                # clean-up for Spark's large writes.
                "Sid": "ProjectObjectsDataDeployLogs",
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": f"{bucket_arn}/{prefix}/*",
            },
        ],
    }


def cost_rows(settings: Settings) -> list[dict]:
    """Instance-hours x (EC2 + EMR price) per instance group."""
    rows = []
    for group in settings.groups:
        price = settings.prices.get(group.instance_type)
        if price is None:
            raise CliError(
                f"no price for {group.instance_type} in {settings.source} "
                "(cost.prices_usd_per_hour): add it"
            )
        hours = group.count * settings.expected_run_hours
        rows.append(
            {
                "group": group.role,
                "type": group.instance_type,
                "count": group.count,
                "instance_hours": hours,
                "ec2": price["ec2"],
                "emr": price["emr"],
                "cost": hours * (price["ec2"] + price["emr"]),
            }
        )
    return rows


def cost_table(settings: Settings) -> str:
    rows = cost_rows(settings)
    lines = [
        f"Cost estimate: {settings.expected_run_hours:g} h expected per run, "
        f"{settings.region}, USD",
        f"{'group':<7}{'type':<12}{'count':>6}{'inst-h':>8}{'EC2/h':>8}{'EMR/h':>8}{'cost':>8}",
    ]
    lines += [
        f"{r['group']:<7}{r['type']:<12}{r['count']:>6}{r['instance_hours']:>8.2f}"
        f"{r['ec2']:>8.3f}{r['emr']:>8.3f}{r['cost']:>8.2f}"
        for r in rows
    ]
    lines.append(f"{'total':<49}{sum(r['cost'] for r in rows):>8.2f}")
    lines.append(f"Prices: {settings.prices_note}. EBS, S3 and data transfer not included.")
    return "\n".join(lines)


def spark_mismatch(settings: Settings) -> str | None:
    """A warning when the cluster's Spark major.minor differs from the pinned pyspark."""
    try:
        pinned = version("pyspark")
    except PackageNotFoundError:
        return None
    if settings.spark_version.split(".")[:2] == pinned.split(".")[:2]:
        return None
    return (
        f"warning: {settings.release_label} runs Spark {settings.spark_version} but the wheel "
        f"pins pyspark {pinned}: their major.minor must match (see {settings.source})"
    )
