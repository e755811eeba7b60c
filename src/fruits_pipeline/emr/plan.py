"""Pure builders of what `fruits-emr` sends to AWS: the CLI runs them, tests and
`--dry-run` print them. No boto3 here, no I/O: data in, data out."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from fruits_pipeline.emr.settings import CliError, InputError, Settings

PACKAGE = "fruits_pipeline"
CONF_TARBALL = f"conf-{PACKAGE}.tar.gz"  # what `fruits-emr package` writes to dist/
LOCK_FILE = "requirements.lock"  # the wheel's dependencies, pinned with hashes
SCRIPTS = ("bootstrap.sh", "entrypoint.py")  # deploy/ files uploaded as they are
IMAGE_SUFFIXES = (".jpg", ".jpeg")  # compared lower-case, like the catalog's glob
RESERVED_PARAMS = ("s3_bucket", "s3_prefix")  # globals: conf/emr/globals.yml only
EMR_SERVICE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"
POLICY_VERSION = "2012-10-17"
MLFLOW_ARTIFACTS = "mlflow"  # <prefix>/mlflow/: conf/emr/mlflow.yml's artifact location


@dataclass(frozen=True)
class Deployment:
    """One deploy: its content-addressed id (from the artifacts' hashes) and its wheel."""

    id: str
    wheel: str


def deployment_id(digests: dict[str, str]) -> str:
    """16 hex characters of sha256 over (name, sha256) of every artifact, sorted by name."""
    text = "".join(f"{name}\0{digest}\n" for name, digest in sorted(digests.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def deploy_key(settings: Settings, deployment: str) -> str:
    """<prefix>/deploy/<id>/: nothing there is overwritten by a later deploy."""
    return f"{settings.deploy_key}{deployment}/"


def latest_pointer_key(settings: Settings) -> str:
    """Written last by `deploy`: the id of the newest complete deployment."""
    return f"{settings.deploy_key}LATEST"


def parse_params(text: str | None) -> list[str]:
    """`k=v,k2=v2` -> ["k=v", "k2=v2"], checked (kedro's --params syntax)."""
    items = [item.strip() for item in (text or "").split(",") if item.strip()]
    for item in items:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--params: {item!r} is not key=value (allowed: k=v,k2=v2)")
        if key.strip() in RESERVED_PARAMS:
            raise InputError(
                f"--params: {key} is not a run parameter; set it in conf/emr/globals.yml, "
                "then fruits-emr package and fruits-emr deploy again"
            )
    return items


def kedro_args(settings: Settings, conf_source: str, extra_params: str | None) -> list[str]:
    params = parse_params(extra_params)
    return [
        "--env", "emr",
        "--conf-source", conf_source,
        *(["--params", ",".join(params)] if params else []),
    ]  # fmt: skip


def spark_submit_args(settings: Settings, extra_params: str | None = None) -> list[str]:
    """The EMR step's command (command-runner.jar): the only place it is built.
    The driver's memory is a spark-submit option: in client mode the driver JVM is running
    before the SparkSession hook reads spark.yml."""
    python = f"{settings.venv_path}/bin/python"
    return [
        "spark-submit",
        "--master", "yarn",
        "--deploy-mode", "client",
        "--driver-memory", settings.driver_memory,
        "--conf", f"spark.pyspark.python={python}",
        "--conf", f"spark.pyspark.driver.python={python}",
        f"{settings.install_dir}/entrypoint.py",
        *kedro_args(settings, f"{settings.install_dir}/{CONF_TARBALL}", extra_params),
    ]  # fmt: skip


def bootstrap_action(settings: Settings, deployment: Deployment) -> dict:
    """deploy/<id>/bootstrap.sh <s3 deploy prefix of the id> <wheel file name> <venv path>."""
    prefix = f"s3://{settings.bucket}/{deploy_key(settings, deployment.id)}"
    return {
        "Name": f"install {PACKAGE} {deployment.id}",
        "ScriptBootstrapAction": {
            "Path": prefix + "bootstrap.sh",
            "Args": [prefix.rstrip("/"), deployment.wheel, settings.venv_path],
        },
    }


def run_job_flow_args(settings: Settings, deployment: Deployment, extra_params: str | None) -> dict:
    cluster = settings.cluster
    instances: dict = {
        "InstanceGroups": [
            {
                "Name": role.title(),
                "Market": "ON_DEMAND",
                "InstanceRole": role,
                "InstanceType": group.instance_type,
                "InstanceCount": group.count,
            }
            for role, group in settings.groups
        ],
        "KeepJobFlowAliveWhenNoSteps": cluster.keep_alive,
        "TerminationProtected": False,
    }
    if cluster.ec2_key_name:
        instances["Ec2KeyName"] = cluster.ec2_key_name
    if cluster.subnet_id:
        instances["Ec2SubnetId"] = cluster.subnet_id
    return {
        "Name": cluster.name,
        "ReleaseLabel": cluster.release_label,
        "Applications": [{"Name": name} for name in cluster.applications],
        "Instances": instances,
        "AutoTerminationPolicy": {"IdleTimeout": cluster.idle_timeout_seconds},
        "LogUri": settings.log_uri,
        "SecurityConfiguration": cluster.security_configuration,
        "BootstrapActions": [bootstrap_action(settings, deployment)],
        "Steps": [
            {
                # The deployment is recorded in the step (and the tags): what ran is known.
                "Name": f"kedro run {PACKAGE} (deployment {deployment.id})",
                "ActionOnFailure": "TERMINATE_CLUSTER",
                "HadoopJarStep": {
                    "Jar": "command-runner.jar",
                    "Args": spark_submit_args(settings, extra_params),
                },
            }
        ],
        "ServiceRole": settings.roles.service,
        "JobFlowRole": settings.roles.ec2,  # the instance profile of the same name
        "Tags": [
            {"Key": k, "Value": v}
            for k, v in {**settings.tags, "deployment": deployment.id}.items()
        ],
        "VisibleToAllUsers": True,
    }


# ---------------------------------------------------------------- bucket


def bucket_policy(settings: Settings) -> dict:
    bucket_arn = f"arn:aws:s3:::{settings.bucket}"
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "DenyNonTLS",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def lifecycle_rules(settings: Settings) -> dict:
    b = settings.bucket_settings
    return {
        "Rules": [
            {
                "ID": "expire-emr-logs",
                "Filter": {"Prefix": settings.key("logs") + "/"},
                "Status": "Enabled",
                "Expiration": {"Days": b.log_expiry_days},
            },
            {
                "ID": "expire-noncurrent-versions-and-abort-uploads",
                "Filter": {"Prefix": ""},
                "Status": "Enabled",
                "NoncurrentVersionExpiration": {"NoncurrentDays": b.noncurrent_version_expiry_days},
                "AbortIncompleteMultipartUpload": {
                    "DaysAfterInitiation": b.abort_incomplete_upload_days
                },
            },
        ]
    }


def encryption_rule(settings: Settings) -> dict:
    key = settings.bucket_settings.kms_key_arn
    if key is None:  # SSE-S3: no key to manage, pay for or grant
        default = {"SSEAlgorithm": "AES256"}
        return {"Rules": [{"ApplyServerSideEncryptionByDefault": default}]}
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]}


def bucket_calls(settings: Settings) -> list[tuple[str, dict]]:
    """(s3 operation, kwargs): private, owner-enforced, encrypted, TLS-only, versioned, with
    lifecycle rules."""
    create: dict = {"Bucket": settings.bucket}
    if settings.region != "us-east-1":  # us-east-1 rejects an explicit constraint
        create["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
    block = dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
        True,
    )
    bucket = settings.bucket
    ownership = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    return [
        ("create_bucket", create),
        ("put_public_access_block", {"Bucket": bucket, "PublicAccessBlockConfiguration": block}),
        ("put_bucket_ownership_controls", {"Bucket": bucket, "OwnershipControls": ownership}),
        (
            "put_bucket_encryption",
            {"Bucket": bucket, "ServerSideEncryptionConfiguration": encryption_rule(settings)},
        ),
        (
            "put_bucket_versioning",
            {"Bucket": bucket, "VersioningConfiguration": {"Status": "Enabled"}},
        ),
        (
            "put_bucket_lifecycle_configuration",
            {"Bucket": bucket, "LifecycleConfiguration": lifecycle_rules(settings)},
        ),
        # Last: from here on every plain-HTTP request to the bucket is refused.
        ("put_bucket_policy", {"Bucket": bucket, "Policy": json.dumps(bucket_policy(settings))}),
    ]


# ---------------------------------------------------------------- IAM


def role_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def trust_policy(service: str, account: str | None = None) -> dict:
    statement: dict = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if account:  # confused deputy: only on behalf of this account
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
    return {"Version": POLICY_VERSION, "Statement": [statement]}


def disk_key_alias_arn(settings: Settings, account: str) -> str:
    return f"arn:aws:kms:{settings.region}:{account}:{settings.cluster.local_disk_key_alias}"


def _bucket_key_statements(settings: Settings) -> list[dict]:
    """SSE-KMS bucket (optional): its key, by ARN. The local-disk key needs no IAM
    statement: its key policy names the roles (disk_key_policy)."""
    key = settings.bucket_settings.kms_key_arn
    if not key:
        return []
    return [
        {
            "Sid": "UseTheBucketKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": key,
        }
    ]


def list_prefix_statement(bucket_arn: str, prefix: str) -> dict:
    """Listing the bucket, limited to the project's prefix (both the data and the operator)."""
    return {
        "Sid": "ListProjectPrefix",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": bucket_arn,
        "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
    }


def data_policy(settings: Settings) -> dict:
    """The cluster's (and the Serverless job's) S3 rights: read <prefix>/data/ and
    <prefix>/deploy/, write only the pipeline's output folders, <prefix>/logs/ and the
    MLflow artifacts (<prefix>/mlflow/, conf/emr/mlflow.yml)."""
    bucket_arn, prefix = f"arn:aws:s3:::{settings.bucket}", settings.prefix
    writable = [f"{bucket_arn}/{prefix}/data/{d}/*" for d in settings.output_dirs]
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            list_prefix_statement(bucket_arn, prefix),
            {
                # S3A committers list (then abort) the pending uploads of a failed job.
                "Sid": "ListPendingUploads",
                "Effect": "Allow",
                "Action": "s3:ListBucketMultipartUploads",
                "Resource": bucket_arn,
            },
            {
                # Clients (s3fs, EMRFS) look the bucket's region up.
                "Sid": "BucketLocation",
                "Effect": "Allow",
                "Action": "s3:GetBucketLocation",
                "Resource": bucket_arn,
            },
            {
                "Sid": "ReadDataAndDeploy",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [f"{bucket_arn}/{prefix}/data/*", f"{bucket_arn}/{prefix}/deploy/*"],
            },
            {
                "Sid": "WriteOutputs",
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": writable,
            },
            {
                "Sid": "WriteLogs",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": f"{bucket_arn}/{prefix}/logs/*",
            },
            {
                # Each run's reports and bundle, added by the driver's MLflow client.
                "Sid": "WriteTrackingArtifacts",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": f"{bucket_arn}/{prefix}/{MLFLOW_ARTIFACTS}/*",
            },
            *_bucket_key_statements(settings),
        ],
    }


def service_pass_role_policy(settings: Settings, account: str) -> dict:
    """AmazonEMRServicePolicy_v2 may pass only EMR_EC2_DefaultRole: add the project's role."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "PassTheProjectEc2Role",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": role_arn(account, settings.roles.ec2),
                "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            }
        ],
    }


def operator_policy(settings: Settings, account: str) -> dict:
    """What the person (or CI role) running fruits-emr day to day needs: upload, deploy,
    launch, follow, terminate; the same on EMR Serverless."""
    region = settings.region
    bucket_arn, prefix = f"arn:aws:s3:::{settings.bucket}", settings.prefix
    roles = [role_arn(account, r) for r in (settings.roles.service, settings.roles.ec2)]
    cluster_arn = f"arn:aws:elasticmapreduce:{region}:{account}:cluster/*"
    app = f"arn:aws:emr-serverless:{region}:{account}:/applications/*"
    tag_condition = {"StringEquals": {f"aws:ResourceTag/{k}": v for k, v in settings.tags.items()}}
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            list_prefix_statement(bucket_arn, prefix),
            {
                "Sid": "ProjectObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"{bucket_arn}/{prefix}/*",
            },
            {
                "Sid": "PassTheProjectRolesToEmr",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": roles,
                "Condition": {
                    "StringEquals": {"iam:PassedToService": "elasticmapreduce.amazonaws.com"}
                },
            },
            {
                "Sid": "PassTheJobRoleToServerless",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": role_arn(account, settings.roles.serverless_job),
                "Condition": {
                    "StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}
                },
            },
            {
                # These EMR and EMR Serverless actions take no resource ARN.
                "Sid": "StartAndList",
                "Effect": "Allow",
                "Action": [
                    "elasticmapreduce:RunJobFlow",
                    "elasticmapreduce:ListClusters",
                    "emr-serverless:CreateApplication",
                    "emr-serverless:ListApplications",
                ],
                "Resource": "*",
            },
            {
                "Sid": "FollowAndStopTheProjectClusters",
                "Effect": "Allow",
                "Action": [
                    "elasticmapreduce:DescribeCluster",
                    "elasticmapreduce:ListSteps",
                    "elasticmapreduce:TerminateJobFlows",
                ],
                "Resource": cluster_arn,
                "Condition": tag_condition,
            },
            {
                "Sid": "ServerlessApplicationsAndRuns",
                "Effect": "Allow",
                "Action": [
                    "emr-serverless:GetApplication",
                    "emr-serverless:StopApplication",
                    "emr-serverless:DeleteApplication",
                    "emr-serverless:StartJobRun",
                    "emr-serverless:GetJobRun",
                    "emr-serverless:TagResource",
                ],
                "Resource": [app, f"{app}/jobruns/*"],
            },
            {
                "Sid": "WhoAmI",
                "Effect": "Allow",
                "Action": "sts:GetCallerIdentity",
                "Resource": "*",
            },
        ],
    }


def setup_policy(settings: Settings, account: str) -> dict:
    """What `fruits-emr setup` and `fruits-emr bucket` need, once, by an administrator."""
    region, bucket_arn = settings.region, f"arn:aws:s3:::{settings.bucket}"
    roles = [
        role_arn(account, r)
        for r in (settings.roles.service, settings.roles.ec2, settings.roles.serverless_job)
    ]
    alias_arn = disk_key_alias_arn(settings, account)
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ConfigureTheBucket",
                "Effect": "Allow",
                "Action": [
                    "s3:CreateBucket",
                    "s3:ListBucket",
                    "s3:GetBucketLocation",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:PutBucketOwnershipControls",
                    "s3:PutEncryptionConfiguration",
                    "s3:PutBucketPolicy",
                    "s3:PutBucketVersioning",
                    "s3:PutLifecycleConfiguration",
                ],
                "Resource": bucket_arn,
            },
            {
                # Whoever may set the bucket policy can grant these anyway: stated, not hidden.
                "Sid": "BucketObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"{bucket_arn}/*",
            },
            {
                "Sid": "CreateTheProjectRoles",
                "Effect": "Allow",
                "Action": [
                    "iam:GetRole",
                    "iam:CreateRole",
                    "iam:PutRolePolicy",
                    "iam:AttachRolePolicy",
                    "iam:TagRole",
                ],
                "Resource": roles,
            },
            {
                "Sid": "CreateTheInstanceProfile",
                "Effect": "Allow",
                "Action": [
                    "iam:GetInstanceProfile",
                    "iam:CreateInstanceProfile",
                    "iam:AddRoleToInstanceProfile",
                ],
                "Resource": f"arn:aws:iam::{account}:instance-profile/{settings.roles.ec2}",
            },
            {
                "Sid": "AliasTheDiskKey",
                "Effect": "Allow",
                "Action": "kms:CreateAlias",
                "Resource": [alias_arn, f"arn:aws:kms:{region}:{account}:key/*"],
            },
            {
                # These take no resource ARN.
                "Sid": "CreateKeyAndSecurityConfiguration",
                "Effect": "Allow",
                "Action": [
                    "kms:CreateKey",
                    "kms:ListAliases",
                    "elasticmapreduce:CreateSecurityConfiguration",
                    "elasticmapreduce:DescribeSecurityConfiguration",
                    "sts:GetCallerIdentity",
                ],
                "Resource": "*",
            },
        ],
    }


def disk_key_policy(settings: Settings, account: str) -> dict:
    """Key policy of the local-disk key: the account administers it, the nodes' role uses it,
    EMR's service role grants it to the EBS volumes it creates."""
    ec2, service = role_arn(account, settings.roles.ec2), role_arn(account, settings.roles.service)
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "NodesEncryptTheirDisks",
                "Effect": "Allow",
                "Principal": {"AWS": [ec2, service]},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
            },
            {
                "Sid": "EmrGrantsToEbs",
                "Effect": "Allow",
                "Principal": {"AWS": [ec2, service]},
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ],
    }


def security_configuration(settings: Settings, account: str) -> dict:
    """At rest: S3 (SSE-S3 through EMRFS) and local disks + EBS (KMS); IMDSv2 only."""
    return {
        "EncryptionConfiguration": {
            "EnableInTransitEncryption": False,
            "EnableAtRestEncryption": True,
            "AtRestEncryptionConfiguration": {
                "S3EncryptionConfiguration": {"EncryptionMode": "SSE-S3"},
                "LocalDiskEncryptionConfiguration": {
                    "EncryptionKeyProviderType": "AwsKms",
                    "AwsKmsKey": disk_key_alias_arn(settings, account),
                    "EnableEbsEncryption": True,
                },
            },
        },
        "InstanceMetadataServiceConfiguration": {
            "MinimumInstanceMetadataServiceVersion": 2,
            "HttpPutResponseHopLimit": 1,
        },
    }


IDENTITY_POLICIES = ("inline", "operator", "setup")  # name markers; the rest are resource
# policies (trust policies, the key policy)


def all_policies(settings: Settings, account: str) -> dict[str, dict]:
    """Every policy fruits-emr creates or asks for, by name (`fruits-emr iam-policy`)."""
    r = settings.roles
    return {
        f"{r.service} (trust)": trust_policy("elasticmapreduce.amazonaws.com", account),
        f"{r.service} (inline: pass the EC2 role)": service_pass_role_policy(settings, account),
        f"{r.ec2} (trust)": trust_policy("ec2.amazonaws.com"),
        f"{r.ec2} (inline: data)": data_policy(settings),
        f"{r.serverless_job} (trust)": trust_policy("emr-serverless.amazonaws.com", account),
        f"{r.serverless_job} (inline: data)": data_policy(settings),
        "operator (who runs fruits-emr)": operator_policy(settings, account),
        "setup (who runs fruits-emr setup and bucket, once)": setup_policy(settings, account),
        f"{settings.cluster.local_disk_key_alias} (key policy)": disk_key_policy(settings, account),
    }


def role_specs(settings: Settings, account: str) -> list[dict]:
    """The three roles: name, trust, inline policies, managed policies."""
    r = settings.roles
    return [
        {
            "name": r.service,
            "trust": trust_policy("elasticmapreduce.amazonaws.com", account),
            "inline": {"pass-ec2-role": service_pass_role_policy(settings, account)},
            "managed": [EMR_SERVICE_POLICY],
        },
        {
            "name": r.ec2,
            "trust": trust_policy("ec2.amazonaws.com"),
            "inline": {"data": data_policy(settings)},
            "managed": [],
        },
        {
            "name": r.serverless_job,
            "trust": trust_policy("emr-serverless.amazonaws.com", account),
            "inline": {"data": data_policy(settings)},
            "managed": [],
        },
    ]


# ---------------------------------------------------------------- EMR Serverless


def serverless_create_application_args(settings: Settings) -> dict:
    s = settings.serverless
    if s.image_uri is None:
        raise InputError(
            f"{settings.source}: serverless.image_uri = None: build and push the image first "
            "(README, EMR Serverless) and set its ECR URI"
        )
    return {
        "name": s.application_name,
        "releaseLabel": s.release_label,
        "type": "SPARK",
        "architecture": s.architecture,
        "imageConfiguration": {"imageUri": s.image_uri},
        "maximumCapacity": {"cpu": s.max_cpu, "memory": s.max_memory},
        "autoStartConfiguration": {"enabled": True},
        "autoStopConfiguration": {"enabled": True, "idleTimeoutMinutes": s.idle_stop_minutes},
        "tags": dict(settings.tags),
    }


SERVERLESS_INSTALL_DIR = "/opt/fruits_pipeline"  # deploy/serverless/Dockerfile


def serverless_start_job_run_args(
    settings: Settings, application_id: str, account: str, extra_params: str | None
) -> dict:
    python = f"{SERVERLESS_INSTALL_DIR}/venv/bin/python"
    spark_params = " ".join(
        [
            f"--conf spark.driver.memory={settings.driver_memory}",
            f"--conf spark.pyspark.python={python}",
            f"--conf spark.pyspark.driver.python={python}",
            f"--conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON={python}",
            f"--conf spark.executorEnv.PYSPARK_PYTHON={python}",
        ]
    )
    return {
        "applicationId": application_id,
        "executionRoleArn": role_arn(account, settings.roles.serverless_job),
        "name": f"kedro run {PACKAGE}",
        "jobDriver": {
            "sparkSubmit": {
                # local:// = a file inside the image, not in S3
                "entryPoint": f"local://{SERVERLESS_INSTALL_DIR}/entrypoint.py",
                "entryPointArguments": kedro_args(
                    settings, f"{SERVERLESS_INSTALL_DIR}/{CONF_TARBALL}", extra_params
                ),
                "sparkSubmitParameters": spark_params,
            }
        },
        "configurationOverrides": {
            "monitoringConfiguration": {
                "s3MonitoringConfiguration": {"logUri": settings.uri("logs", "serverless") + "/"}
            }
        },
        "executionTimeoutMinutes": settings.serverless.execution_timeout_minutes,
        "tags": dict(settings.tags),
    }


def serverless_log_prefix(settings: Settings, application_id: str, job_run_id: str) -> str:
    """Where EMR Serverless puts the driver's logs under the monitoring logUri."""
    return (
        f"{settings.key('logs', 'serverless')}/applications/{application_id}/jobs/"
        f"{job_run_id}/SPARK_DRIVER/"
    )


# ---------------------------------------------------------------- cost and versions


def cost_rows(settings: Settings) -> list[dict]:
    """Instance-hours x (EC2 + EMR price) per instance group."""
    rows = []
    for role, group in settings.groups:
        price = settings.cost.prices_usd_per_hour.get(group.instance_type)
        if price is None:
            raise CliError(f"no price for {group.instance_type} in {settings.source}")
        hours = group.count * settings.cost.expected_run_hours
        rows.append(
            {
                "group": role,
                "type": group.instance_type,
                "count": group.count,
                "instance_hours": hours,
                "ec2": price.ec2,
                "emr": price.emr,
                "cost": hours * (price.ec2 + price.emr),
            }
        )
    return rows


def cost_table(settings: Settings) -> str:
    rows = cost_rows(settings)
    lines = [
        f"Cost estimate: {settings.cost.expected_run_hours:g} h expected per run, "
        f"{settings.region}, USD",
        f"{'group':<7}{'type':<12}{'count':>6}{'inst-h':>8}{'EC2/h':>8}{'EMR/h':>8}{'cost':>8}",
    ]
    lines += [
        f"{r['group']:<7}{r['type']:<12}{r['count']:>6}{r['instance_hours']:>8.2f}"
        f"{r['ec2']:>8.3f}{r['emr']:>8.3f}{r['cost']:>8.2f}"
        for r in rows
    ]
    lines.append(f"{'total':<49}{sum(r['cost'] for r in rows):>8.2f}")
    lines.append(f"Prices: {settings.cost.prices_note}. EBS, S3 and data transfer not included.")
    return "\n".join(lines)


def spark_mismatch(settings: Settings) -> str | None:
    """A warning when the cluster's Spark major.minor differs from the pinned pyspark."""
    try:
        pinned = version("pyspark")
    except PackageNotFoundError:
        return None
    spark = settings.cluster.spark_version
    if spark.split(".")[:2] == pinned.split(".")[:2]:
        return None
    return (
        f"warning: {settings.cluster.release_label} runs Spark {spark} but the wheel "
        f"pins pyspark {pinned}: their major.minor must match (see {settings.source})"
    )
