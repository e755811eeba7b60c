"""`fruits-emr`: run the packaged pipeline on AWS EMR or EMR Serverless (setup, bucket,
upload, package, deploy, launch, ...).

Settings come from deploy/emr.yml, validated at start; credentials only from boto3's
default chain (env, profile, instance profile) and are never printed. Mutating commands
take --dry-run. Installed with the `ops` extra: `pip install "fruits_pipeline[ops]"`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

try:
    import boto3
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    from tqdm import tqdm
except ImportError as missing:  # the cluster's wheel has no ops dependencies
    sys.exit(f"fruits-emr needs the ops extra ({missing.name} missing): "
             'pip install "fruits_pipeline[ops]"')  # fmt: skip

from fruits_pipeline import __version__
from fruits_pipeline.emr import artifacts, plan
from fruits_pipeline.emr.plan import Deployment
from fruits_pipeline.emr.settings import CliError, InputError, Settings, load_settings

ACTIVE_STATES = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"]
UPLOAD_THREADS = 16  # many small JPEGs: parallel PUTs, boto3 clients are thread-safe
MULTIPART_CHUNK = 8 * 1024 * 1024  # boto3's default threshold and part size (ETag rule)
DRY_RUN_ACCOUNT = "123456789012"  # shown in --dry-run ARNs unless --account-id is given


class App:
    """One command's context: settings, clients, and what it is working on (for errors)."""

    def __init__(self, settings: Settings, dry_run: bool = False, account: str | None = None):
        self.settings, self.dry_run = settings, dry_run
        self.target = f"s3://{settings.bucket}"
        self._session = None
        self._account = account

    def client(self, service: str):
        if self._session is None:
            self._session = boto3.session.Session(region_name=self.settings.region)
        return self._session.client(service)

    @property
    def account(self) -> str:
        if self._account is None:
            if self.dry_run:
                return DRY_RUN_ACCOUNT
            self._account = self.client("sts").get_caller_identity()["Account"]
        return self._account

    def show(self, call: str, kwargs: dict) -> None:
        print(f"[dry-run] {call}(**{json.dumps(kwargs, indent=2)})")

    def call(self, service: str, op: str, kwargs: dict):
        """Send (or, with --dry-run, print) one request."""
        if self.dry_run:
            self.show(f"{service}.{op}", kwargs)
            return None
        return getattr(self.client(service), op)(**kwargs)


# ---------------------------------------------------------------- bucket and setup


def cmd_bucket(app: App, args) -> int:
    s3 = None if app.dry_run else app.client("s3")
    for op, kwargs in plan.bucket_calls(app.settings):
        if op == "create_bucket" and not app.dry_run:
            if _bucket_exists(s3, app.settings.bucket):
                print(f"bucket s3://{app.settings.bucket} exists")
                continue
            print(f"creating s3://{app.settings.bucket} in {app.settings.region}")
        app.call("s3", op, kwargs)
    if not app.dry_run:
        key = app.settings.bucket_settings.kms_key_arn
        print(
            "public access blocked (4/4), object ownership BucketOwnerEnforced, default "
            f"encryption {'SSE-KMS ' + key if key else 'SSE-S3 (AES256)'}, TLS-only policy, "
            "versioning on, lifecycle (logs, non-current versions, incomplete uploads)"
        )
    return 0


def _bucket_exists(s3, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchBucket", "NotFound"):
            return False
        if error.response["Error"]["Code"] in ("403", "AccessDenied", "Forbidden"):
            raise CliError(
                f"s3://{bucket} exists but is not accessible with these credentials (bucket "
                "names are global: pick another s3_bucket in conf/emr/globals.yml)"
            ) from None
        raise


def _exists(probe) -> bool:
    try:
        probe()
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchEntity", "NotFoundException", "NotFound"):
            return False
        raise


def cmd_setup(app: App, args) -> int:
    """Roles, instance profile, local-disk KMS key, security configuration (idempotent)."""
    s, account = app.settings, app.account
    iam = None if app.dry_run else app.client("iam")
    for spec in plan.role_specs(s, account):
        name = spec["name"]
        app.target = f"IAM role {name}"
        if app.dry_run or not _exists(lambda n=name: iam.get_role(RoleName=n)):
            app.call("iam", "create_role", {
                "RoleName": name,
                "AssumeRolePolicyDocument": json.dumps(spec["trust"]),
                "Description": f"{plan.PACKAGE}: created by fruits-emr setup",
                "Tags": [{"Key": k, "Value": v} for k, v in s.tags.items()],
            })  # fmt: skip
            if not app.dry_run:
                print(f"role {name}: created")
        for policy_name, document in spec["inline"].items():
            app.call("iam", "put_role_policy", {
                "RoleName": name, "PolicyName": policy_name,
                "PolicyDocument": json.dumps(document),
            })  # fmt: skip
        for arn in spec["managed"]:
            app.call("iam", "attach_role_policy", {"RoleName": name, "PolicyArn": arn})
        if not app.dry_run:
            print(f"role {name}: policies set")
    profile = s.roles.ec2
    app.target = f"IAM instance profile {profile}"
    if app.dry_run or not _exists(lambda: iam.get_instance_profile(InstanceProfileName=profile)):
        app.call("iam", "create_instance_profile", {"InstanceProfileName": profile})
        app.call("iam", "add_role_to_instance_profile",
                 {"InstanceProfileName": profile, "RoleName": s.roles.ec2})  # fmt: skip
    elif not iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]:
        app.call("iam", "add_role_to_instance_profile",
                 {"InstanceProfileName": profile, "RoleName": s.roles.ec2})  # fmt: skip
    _setup_disk_key(app)
    _setup_security_configuration(app)
    return 0


def _setup_disk_key(app: App) -> None:
    s = app.settings
    alias = s.cluster.local_disk_key_alias
    app.target = f"KMS {alias} in {s.region}"
    if not app.dry_run:
        aliases = app.client("kms").get_paginator("list_aliases").paginate()
        if any(a["AliasName"] == alias for page in aliases for a in page["Aliases"]):
            print(f"KMS key {alias} exists")
            return
    key_args = {
        "Description": f"{plan.PACKAGE}: EMR local disks and EBS volumes",
        "KeyUsage": "ENCRYPT_DECRYPT",
        "Policy": json.dumps(plan.disk_key_policy(s, app.account)),
        "Tags": [{"TagKey": k, "TagValue": v} for k, v in s.tags.items()],
    }
    created = app.call("kms", "create_key", key_args)
    key_id = created["KeyMetadata"]["KeyId"] if created else "<new key id>"
    app.call("kms", "create_alias", {"AliasName": alias, "TargetKeyId": key_id})
    if not app.dry_run:
        print(f"KMS key {alias} created")


def _setup_security_configuration(app: App) -> None:
    s = app.settings
    name = s.cluster.security_configuration
    app.target = f"EMR security configuration {name}"
    if not app.dry_run:
        emr = app.client("emr")
        try:
            emr.describe_security_configuration(Name=name)
            print(f"security configuration {name} exists (delete it to change it)")
            return
        except ClientError as error:
            if error.response["Error"]["Code"] != "InvalidRequestException":
                raise
    app.call("emr", "create_security_configuration", {
        "Name": name,
        "SecurityConfiguration": json.dumps(plan.security_configuration(s, app.account)),
    })  # fmt: skip
    if not app.dry_run:
        print(f"security configuration {name} created (at-rest S3 + local disks, IMDSv2)")


# ---------------------------------------------------------------- upload


def local_etag(path: Path) -> str:
    """The ETag S3 gives an object boto3 uploaded from this file (SSE-S3): its MD5, or for
    multipart uploads the MD5 of the parts' MD5s and the part count."""
    if path.stat().st_size < MULTIPART_CHUNK:
        return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    digests = []
    with path.open("rb") as file:
        while chunk := file.read(MULTIPART_CHUNK):
            digests.append(hashlib.md5(chunk, usedforsecurity=False))
    combined = hashlib.md5(b"".join(d.digest() for d in digests), usedforsecurity=False)
    return f"{combined.hexdigest()}-{len(digests)}"


def cmd_upload(app: App, args) -> int:
    root = Path(args.local_dir)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder (expected Training/<Class>/*.jpg, Test/...)")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    images = [p for p in files if p.suffix.lower() in plan.IMAGE_SUFFIXES]
    ignored = len(files) - len(images)
    if not any((root / split).is_dir() for split in ("Training", "Test")):
        print(f"warning: no Training/ or Test/ folder in {root}", file=sys.stderr)
    key = {p: app.settings.raw_key + p.relative_to(root).as_posix() for p in images}
    dest = f"s3://{app.settings.bucket}/{app.settings.raw_key}"
    app.target = dest
    if app.dry_run:
        for path in images:
            print(
                f"[dry-run] s3.upload_file({str(path)!r}, {app.settings.bucket!r}, {key[path]!r})"
            )
        print(
            f"[dry-run] {len(images)} images -> {dest} (those already there with the same "
            f"content are skipped), {ignored} non-image files ignored"
        )
        return 0
    s3 = app.client("s3")
    existing = {}
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=app.settings.bucket, Prefix=app.settings.raw_key
    ):
        existing.update((o["Key"], o["ETag"].strip('"')) for o in page.get("Contents", []))
    todo = [p for p in images if existing.get(key[p]) != local_etag(p)]
    with (
        tqdm(total=len(todo), unit="img", desc="upload", disable=None) as bar,
        ThreadPoolExecutor(UPLOAD_THREADS) as pool,
    ):
        for _ in pool.map(lambda p: s3.upload_file(str(p), app.settings.bucket, key[p]), todo):
            bar.update()
    print(
        f"{dest}: uploaded {len(todo)}, skipped {len(images) - len(todo)} (same content "
        f"already there), ignored {ignored} non-image files"
    )
    return 0


# ---------------------------------------------------------------- package and deploy


def cmd_package(app: App, args) -> int:
    project = Path(args.project)
    if not (project / "pyproject.toml").is_file():
        raise InputError(f"{project}: no pyproject.toml (pass --project, the project root)")
    for line in artifacts.package(project, Path(args.dist)):
        print(line)
    return 0


def deploy_files(app: App, dist: Path) -> tuple[Deployment, list[tuple[Path, str]], str]:
    """The allow-list of what deploy uploads: the wheel of this version, the conf tarball,
    the lock, bootstrap.sh, entrypoint.py; their deployment id and SHA256SUMS."""
    wheel = dist / f"{plan.PACKAGE}-{__version__}-py3-none-any.whl"
    needed = [wheel, dist / plan.CONF_TARBALL, dist / plan.LOCK_FILE]
    missing = [p for p in needed if not p.is_file()]
    if missing:
        raise CliError(f"{missing[0]} not found: run `fruits-emr package` first (writes {dist}/)")
    here = app.settings.source.parent  # bootstrap.sh and entrypoint.py sit beside emr.yml
    files = [*needed, *(here / name for name in plan.SCRIPTS)]
    for path in files:
        if not path.is_file():
            raise CliError(f"{path} not found")
    digests = {path.name: artifacts.sha256_of(path) for path in files}
    deployment = Deployment(plan.deployment_id(digests), wheel.name)
    sums = artifacts.sha256sums(files)
    prefix = plan.deploy_key(app.settings, deployment.id)
    return deployment, [(path, prefix + path.name) for path in files], sums


def cmd_deploy(app: App, args) -> int:
    deployment, files, sums = deploy_files(app, Path(args.dist))
    bucket, prefix = app.settings.bucket, plan.deploy_key(app.settings, deployment.id)
    pointer = {"id": deployment.id, "wheel": deployment.wheel}
    s3 = None if app.dry_run else app.client("s3")
    for path, key in files:
        app.target = f"s3://{bucket}/{key}"
        if app.dry_run:
            print(f"[dry-run] s3.upload_file({str(path)!r}, {bucket!r}, {key!r})")
        else:
            s3.upload_file(str(path), bucket, key)
            print(f"{path} -> {app.target}")
    # Last: the checksums the nodes verify, then the pointer launch follows.
    app.target = f"s3://{bucket}/{prefix}SHA256SUMS"
    app.call("s3", "put_object", {"Bucket": bucket, "Key": prefix + "SHA256SUMS", "Body": sums})
    latest = plan.latest_pointer_key(app.settings)
    app.target = f"s3://{bucket}/{latest}"
    app.call("s3", "put_object", {"Bucket": bucket, "Key": latest, "Body": json.dumps(pointer)})
    print(f"deployment {deployment.id} (fruits-emr launch uses it; --deployment to pick one)")
    return 0


def _deployment(app: App, wanted: str | None) -> Deployment:
    """The deployment to run (the newest, or --deployment), checked complete."""
    s3, bucket = app.client("s3"), app.settings.bucket
    if wanted is None:
        latest = plan.latest_pointer_key(app.settings)
        app.target = f"s3://{bucket}/{latest}"
        try:
            pointer = json.loads(s3.get_object(Bucket=bucket, Key=latest)["Body"].read())
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise CliError(
                    f"no deployment in s3://{bucket}/{app.settings.deploy_key}: "
                    "run `fruits-emr package` then `fruits-emr deploy`"
                ) from None
            raise
        wanted = pointer["id"]
    prefix = plan.deploy_key(app.settings, wanted)
    app.target = f"s3://{bucket}/{prefix}"
    names = {
        o["Key"][len(prefix) :]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    }
    wheels = sorted(n for n in names if n.startswith(f"{plan.PACKAGE}-") and n.endswith(".whl"))
    needed = (plan.CONF_TARBALL, plan.LOCK_FILE, "SHA256SUMS", *plan.SCRIPTS)
    missing = [n for n in needed if n not in names] + ([] if wheels else ["the wheel"])
    if missing:
        raise CliError(
            f"{app.target} lacks {', '.join(missing)}: "
            "run `fruits-emr package` then `fruits-emr deploy`"
        )
    return Deployment(wanted, wheels[-1])


# ---------------------------------------------------------------- EMR on EC2


def cmd_launch(app: App, args) -> int:
    print(plan.cost_table(app.settings))
    warning = plan.spark_mismatch(app.settings)
    if warning:
        print(warning, file=sys.stderr)
    if app.dry_run:  # no AWS call: a placeholder deployment of the installed version
        deployment = Deployment(
            args.deployment or "DEPLOYMENT_ID", f"{plan.PACKAGE}-{__version__}-py3-none-any.whl"
        )
        app.show("emr.run_job_flow", plan.run_job_flow_args(app.settings, deployment, args.params))
        return 0
    plan.parse_params(args.params)  # input errors before any AWS call
    deployment = _deployment(app, args.deployment)
    request = plan.run_job_flow_args(app.settings, deployment, args.params)
    app.target = f"EMR in {app.settings.region}"
    response = app.client("emr").run_job_flow(**request)
    cluster_id = response["JobFlowId"]
    print(f"{cluster_id} starting, deployment {deployment.id} "
          f"(follow it: fruits-emr status {cluster_id})")  # fmt: skip
    return 0


def _latest_active_cluster(app: App) -> str:
    emr = app.client("emr")
    clusters = []
    for page in emr.get_paginator("list_clusters").paginate(ClusterStates=ACTIVE_STATES):
        clusters += page["Clusters"]
    clusters.sort(key=lambda c: c["Status"]["Timeline"]["CreationDateTime"], reverse=True)
    wanted = app.settings.tags.items()
    for summary in clusters:
        tags = emr.describe_cluster(ClusterId=summary["Id"])["Cluster"].get("Tags", [])
        if wanted <= {t["Key"]: t["Value"] for t in tags}.items():
            return summary["Id"]
    tag_text = ",".join(f"{k}={v}" for k, v in wanted)
    raise CliError(f"no active cluster tagged {tag_text} in {app.settings.region}")


def cmd_status(app: App, args) -> int:
    app.target = f"EMR in {app.settings.region}"
    cluster_id = args.cluster_id or _latest_active_cluster(app)
    app.target = f"cluster {cluster_id} in {app.settings.region}"
    emr = app.client("emr")
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    status = cluster["Status"]
    reason = status.get("StateChangeReason", {}).get("Message", "")
    print(
        f"{cluster_id}  {cluster['Name']}  {status['State']}" + (f"  ({reason})" if reason else "")
    )
    print(f"  release {cluster.get('ReleaseLabel', '?')}, logs {cluster.get('LogUri', '-')}")
    for step in emr.list_steps(ClusterId=cluster_id)["Steps"]:
        step_reason = step["Status"].get("FailureDetails", {}).get("Message", "")
        line = f"  step {step['Id']}  {step['Name']}  {step['Status']['State']}"
        print(line + (f"  ({step_reason})" if step_reason else ""))
    return 0


def _print_logs(app: App, bucket: str, prefix: str) -> int:
    app.target = f"s3://{bucket}/{prefix}"
    s3 = app.client("s3")
    names = [
        o["Key"][len(prefix) :]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    ]
    if not names:
        raise CliError(
            f"no logs yet in {app.target}: EMR uploads them every few minutes and when the "
            "step ends; try again later"
        )
    print(f"{app.target}: {', '.join(sorted(names))}")
    for name in ("stdout.gz", "stderr.gz"):
        if name in names:
            body = s3.get_object(Bucket=bucket, Key=prefix + name)["Body"].read()
            print(f"===== {name} =====")
            print(gzip.decompress(body).decode("utf-8", errors="replace"))
    return 0


def cmd_logs(app: App, args) -> int:
    app.target = f"cluster {args.cluster_id} in {app.settings.region}"
    emr = app.client("emr")
    cluster = emr.describe_cluster(ClusterId=args.cluster_id)["Cluster"]
    step_id = args.step
    if not step_id:
        steps = emr.list_steps(ClusterId=args.cluster_id)["Steps"]  # newest first
        if not steps:
            raise CliError(f"cluster {args.cluster_id} has no step")
        step_id = steps[0]["Id"]
    log_uri = cluster.get("LogUri") or app.settings.log_uri
    bucket, _, prefix = log_uri.split("://", 1)[1].partition("/")  # EMR may say s3n://
    prefix = f"{prefix.rstrip('/')}/{args.cluster_id}/steps/{step_id}/".lstrip("/")
    return _print_logs(app, bucket, prefix)


def cmd_terminate(app: App, args) -> int:
    app.target = f"cluster {args.cluster_id} in {app.settings.region}"
    app.call("emr", "terminate_job_flows", {"JobFlowIds": [args.cluster_id]})
    if not app.dry_run:
        print(f"termination requested for {args.cluster_id}: fruits-emr status {args.cluster_id}")
    return 0


def cmd_cost(app: App, args) -> int:
    print(plan.cost_table(app.settings))
    return 0


def cmd_iam_policy(app: App, args) -> int:
    app.target = "STS (account id)"
    print(json.dumps(plan.all_policies(app.settings, app.account), indent=2))
    return 0


# ---------------------------------------------------------------- EMR Serverless


def _application_id(app: App) -> str:
    name = app.settings.serverless.application_name
    app.target = f"EMR Serverless in {app.settings.region}"
    client = app.client("emr-serverless")
    for page in client.get_paginator("list_applications").paginate():
        for application in page["applications"]:
            if application["name"] == name and application["state"] != "TERMINATED":
                return application["id"]
    raise CliError(f"no EMR Serverless application {name!r}: fruits-emr serverless create")


def cmd_serverless_create(app: App, args) -> int:
    request = plan.serverless_create_application_args(app.settings)
    if not app.dry_run:
        try:
            found = _application_id(app)
            print(f"application {request['name']} exists: {found}")
            return 0
        except CliError:
            pass
    response = app.call("emr-serverless", "create_application", request)
    if response:
        print(f"application {request['name']} created: {response['applicationId']}")
    return 0


def cmd_serverless_run(app: App, args) -> int:
    plan.parse_params(args.params)
    application = "APPLICATION_ID" if app.dry_run else _application_id(app)
    request = plan.serverless_start_job_run_args(
        app.settings, application, app.account, args.params
    )
    response = app.call("emr-serverless", "start_job_run", request)
    if response:
        job = response["jobRunId"]
        print(f"job run {job} started on {application} (fruits-emr serverless status {job})")
    return 0


def cmd_serverless_status(app: App, args) -> int:
    application = _application_id(app)
    client = app.client("emr-serverless")
    state = client.get_application(applicationId=application)["application"]["state"]
    print(f"application {app.settings.serverless.application_name} {application}  {state}")
    if args.job_run_id:
        app.target = f"job run {args.job_run_id} of {application}"
        run = client.get_job_run(applicationId=application, jobRunId=args.job_run_id)["jobRun"]
        details = run.get("stateDetails", "")
        print(
            f"  job run {run['jobRunId']}  {run['state']}" + (f"  ({details})" if details else "")
        )
    return 0


def cmd_serverless_logs(app: App, args) -> int:
    application = _application_id(app)
    prefix = plan.serverless_log_prefix(app.settings, application, args.job_run_id)
    return _print_logs(app, app.settings.bucket, prefix)


def cmd_serverless_delete(app: App, args) -> int:
    application = "APPLICATION_ID" if app.dry_run else _application_id(app)
    app.call("emr-serverless", "stop_application", {"applicationId": application})
    app.call("emr-serverless", "delete_application", {"applicationId": application})
    if not app.dry_run:
        print(f"application {application} stopped and deleted")
    return 0


# ---------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fruits-emr", description="Run the packaged pipeline on AWS EMR."
    )
    parser.add_argument(
        "--config", default="deploy/emr.yml", help="settings (default: %(default)s)"
    )
    parser.add_argument("--account-id", help="AWS account id for ARNs (default: from STS)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, func, help_text, mutating=False, into=sub):
        command = into.add_parser(name, help=help_text)
        command.set_defaults(func=func)
        if mutating:
            command.add_argument("--dry-run", action="store_true", help="print the plan only")
        return command

    add("setup", cmd_setup, "create the roles, instance profile, disk key, security config", True)
    add("bucket", cmd_bucket, "create the private, encrypted, versioned bucket (idempotent)", True)
    add("upload", cmd_upload, "upload the photos to data/01_raw/fruits-360/", True).add_argument(
        "local_dir", help="folder with Training/<Class>/*.jpg and Test/<Class>/*.jpg"
    )
    package = add("package", cmd_package, "build wheel, conf tarball (allow-list) and lock")
    package.add_argument("--project", default=".", help="project root (default: %(default)s)")
    package.add_argument("--dist", default="dist", help="output folder (default: %(default)s)")
    add("deploy", cmd_deploy, "upload the artifacts under deploy/<id>/", True).add_argument(
        "--dist", default="dist", help="fruits-emr package output (default: %(default)s)"
    )
    launch = add("launch", cmd_launch, "start a cluster that runs the pipeline once", True)
    launch.add_argument("--params", help="extra kedro --params, k=v,k2=v2")
    launch.add_argument("--deployment", help="deployment id (default: the newest)")
    add("status", cmd_status, "cluster and step states").add_argument(
        "cluster_id", nargs="?", help="default: the newest active cluster of the project"
    )
    logs = add("logs", cmd_logs, "print the step's stdout/stderr from S3")
    logs.add_argument("cluster_id")
    logs.add_argument("--step", help="step id (default: the newest step)")
    add("terminate", cmd_terminate, "terminate a cluster", True).add_argument("cluster_id")
    add("cost", cmd_cost, "estimated cost of one run")
    add("iam-policy", cmd_iam_policy, "every policy (roles, operator, key) as JSON")

    serverless = sub.add_parser("serverless", help="the same job on EMR Serverless")
    ssub = serverless.add_subparsers(dest="serverless_command", required=True)
    add("create", cmd_serverless_create, "create the application (custom image)", True, ssub)
    add("run", cmd_serverless_run, "start a job run", True, ssub).add_argument(
        "--params", help="extra kedro --params, k=v,k2=v2"
    )
    add("status", cmd_serverless_status, "application (and job run) state", into=ssub
        ).add_argument("job_run_id", nargs="?")  # fmt: skip
    add("logs", cmd_serverless_logs, "the job run's driver stdout/stderr", into=ssub
        ).add_argument("job_run_id")  # fmt: skip
    add("delete", cmd_serverless_delete, "stop and delete the application", True, ssub)
    return parser


HINTS = {
    "NoSuchBucket": "create it with `fruits-emr bucket` (or fix s3_bucket in conf/emr/globals.yml)",
    "AccessDenied": "these credentials lack the permission (or it belongs to another account)",
    "Forbidden": "these credentials lack the permission (or it belongs to another account)",
    "403": "these credentials lack the permission (or it belongs to another account)",
    "InvalidAccessKeyId": "check the credentials (`aws configure` / AWS_PROFILE)",
    "SignatureDoesNotMatch": "check the credentials (`aws configure` / AWS_PROFILE)",
    "ExpiredToken": "refresh the credentials (e.g. `aws sso login`)",
    "InvalidRequestException": "check the cluster id (`fruits-emr status`)",
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    app = None
    code = 1
    try:
        if args.account_id is not None and not (
            len(args.account_id) == 12 and args.account_id.isdigit()
        ):
            raise InputError(f"--account-id {args.account_id!r}: must be 12 digits")
        app = App(load_settings(args.config), getattr(args, "dry_run", False), args.account_id)
        return args.func(app, args)
    except CliError as error:
        message, code = str(error), error.code
    except NoCredentialsError:
        message = (
            "no AWS credentials found: run `aws configure`, set AWS_PROFILE, or use an "
            "instance profile"
        )
    except S3UploadFailedError as error:  # upload_file wraps the ClientError
        text = " ".join(str(error).split())
        message = f"upload failed on {app.target if app else '?'}: {text}"
        for hint_code, hint in HINTS.items():
            if f"({hint_code})" in text:
                message += f" -> {hint}"
                break
    except ClientError as error:
        err = error.response.get("Error", {})
        code_text, text = err.get("Code", "?"), err.get("Message", "")
        hint = HINTS.get(code_text, "see the AWS message")
        message = f"{code_text} on {app.target} ({error.operation_name}): {text} -> {hint}"
    except BotoCoreError as error:  # endpoint unreachable, partial credentials, ...
        message = f"{type(error).__name__} on {app.target if app else '?'}: {error}"
    command = " ".join(filter(None, [args.command, getattr(args, "serverless_command", None)]))
    print(f"fruits-emr {command}: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
