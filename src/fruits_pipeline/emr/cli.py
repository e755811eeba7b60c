"""`fruits-emr`: run the packaged pipeline on AWS EMR (bucket, upload, deploy, launch, ...).

Settings come from deploy/emr.yml; credentials only from boto3's default chain (env,
profile, instance profile) and are never printed. Mutating commands take --dry-run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from tqdm import tqdm

from fruits_pipeline import __version__
from fruits_pipeline.emr import plan
from fruits_pipeline.emr.settings import CliError, Settings, load_settings

ACTIVE_STATES = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"]
UPLOAD_THREADS = 16  # many small JPEGs: parallel PUTs, boto3 clients are thread-safe


class App:
    """One command's context: settings, clients, and what it is working on (for errors)."""

    def __init__(self, settings: Settings, dry_run: bool = False):
        self.settings, self.dry_run = settings, dry_run
        self.target = f"s3://{settings.bucket}"
        self._session = None

    def client(self, service: str):
        if self._session is None:
            self._session = boto3.session.Session(region_name=self.settings.region)
        return self._session.client(service)

    def show(self, call: str, kwargs: dict) -> None:
        print(f"[dry-run] {call}(**{json.dumps(kwargs, indent=2)})")


# ---------------------------------------------------------------- commands


def cmd_bucket(app: App, args) -> int:
    s3, calls = None if app.dry_run else app.client("s3"), plan.bucket_calls(app.settings)
    for op, kwargs in calls:
        if app.dry_run:
            app.show(f"s3.{op}", kwargs)
            continue
        if op == "create_bucket":
            if _bucket_exists(s3, app.settings.bucket):
                print(f"bucket s3://{app.settings.bucket} exists")
                continue
            print(f"creating s3://{app.settings.bucket} in {app.settings.region}")
        getattr(s3, op)(**kwargs)
    if not app.dry_run:
        print(
            "public access blocked (4/4), default encryption SSE-S3 (AES256), "
            "object ownership BucketOwnerEnforced"
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
                "names are global: pick another in deploy/emr.yml and conf/emr/globals.yml)"
            ) from None
        raise


def cmd_upload(app: App, args) -> int:
    root = Path(args.local_dir)
    if not root.is_dir():
        raise CliError(f"{root} is not a folder (expected Training/<Class>/*.jpg, Test/...)")
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
            f"size are skipped), {ignored} non-image files ignored"
        )
        return 0
    s3 = app.client("s3")
    existing = {}
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=app.settings.bucket, Prefix=app.settings.raw_key
    ):
        existing.update((o["Key"], o["Size"]) for o in page.get("Contents", []))
    todo = [p for p in images if existing.get(key[p]) != p.stat().st_size]
    with (
        tqdm(total=len(todo), unit="img", desc="upload", disable=None) as bar,
        ThreadPoolExecutor(UPLOAD_THREADS) as pool,
    ):
        for _ in pool.map(lambda p: s3.upload_file(str(p), app.settings.bucket, key[p]), todo):
            bar.update()
    print(
        f"{dest}: uploaded {len(todo)}, skipped {len(images) - len(todo)} (same size already "
        f"there), ignored {ignored} non-image files"
    )
    return 0


def _deploy_files(app: App, dist: Path) -> list[tuple[Path, str]]:
    wheels = sorted(dist.glob(f"{plan.PACKAGE}-*.whl"), key=lambda p: p.stat().st_mtime)
    conf = dist / plan.CONF_TARBALL
    if not wheels or not conf.is_file():
        missing = conf if wheels else dist / f"{plan.PACKAGE}-*.whl"
        raise CliError(f"{missing} not found: run `kedro package` first (writes {dist}/)")
    here = app.settings.source.parent  # bootstrap.sh and entrypoint.py sit beside emr.yml
    files = [wheels[-1], conf, here / "bootstrap.sh", here / "entrypoint.py"]
    for path in files:
        if not path.is_file():
            raise CliError(f"{path} not found")
    return [(path, app.settings.deploy_key + path.name) for path in files]


def cmd_deploy(app: App, args) -> int:
    files = _deploy_files(app, Path(args.dist))
    s3 = None if app.dry_run else app.client("s3")
    for path, key in files:
        app.target = f"s3://{app.settings.bucket}/{key}"
        if app.dry_run:
            print(f"[dry-run] s3.upload_file({str(path)!r}, {app.settings.bucket!r}, {key!r})")
        else:
            s3.upload_file(str(path), app.settings.bucket, key)
            print(f"{path} -> {app.target}")
    return 0


def _deployed_wheel(app: App) -> str:
    """The newest wheel under deploy/, after checking the other artifacts are there."""
    app.target = app.settings.uri("deploy") + "/"
    listing = app.client("s3").list_objects_v2(
        Bucket=app.settings.bucket, Prefix=app.settings.deploy_key
    )
    objects = {o["Key"][len(app.settings.deploy_key) :]: o for o in listing.get("Contents", [])}
    wheels = [n for n in objects if n.startswith(f"{plan.PACKAGE}-") and n.endswith(".whl")]
    missing = [n for n in (plan.CONF_TARBALL, "bootstrap.sh", "entrypoint.py") if n not in objects]
    if not wheels or missing:
        raise CliError(
            f"{app.target} lacks {', '.join(missing) or 'the wheel'}: "
            "run `kedro package` then `fruits-emr deploy`"
        )
    return max(wheels, key=lambda n: objects[n]["LastModified"])


def cmd_launch(app: App, args) -> int:
    print(plan.cost_table(app.settings))
    warning = plan.spark_mismatch(app.settings)
    if warning:
        print(warning, file=sys.stderr)
    if app.dry_run:  # no AWS call: assume the wheel of the installed version
        wheel = f"{plan.PACKAGE}-{__version__}-py3-none-any.whl"
        app.show("emr.run_job_flow", plan.run_job_flow_args(app.settings, wheel, args.params))
        return 0
    request = plan.run_job_flow_args(app.settings, _deployed_wheel(app), args.params)
    app.target = f"EMR in {app.settings.region}"
    response = app.client("emr").run_job_flow(**request)
    cluster_id = response["JobFlowId"]
    print(f"{cluster_id} starting (follow it: fruits-emr status {cluster_id})")
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


def cmd_terminate(app: App, args) -> int:
    request = {"JobFlowIds": [args.cluster_id]}
    if app.dry_run:
        app.show("emr.terminate_job_flows", request)
        return 0
    app.target = f"cluster {args.cluster_id} in {app.settings.region}"
    app.client("emr").terminate_job_flows(**request)
    print(f"termination requested for {args.cluster_id}: fruits-emr status {args.cluster_id}")
    return 0


def cmd_cost(app: App, args) -> int:
    print(plan.cost_table(app.settings))
    return 0


def cmd_iam_policy(app: App, args) -> int:
    print(json.dumps(plan.iam_policy(app.settings), indent=2))
    return 0


# ---------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fruits-emr", description="Run the packaged pipeline on AWS EMR."
    )
    parser.add_argument(
        "--config", default="deploy/emr.yml", help="settings (default: %(default)s)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, func, help_text, mutating=False):
        command = sub.add_parser(name, help=help_text)
        command.set_defaults(func=func)
        if mutating:
            command.add_argument("--dry-run", action="store_true", help="print the plan only")
        return command

    add("bucket", cmd_bucket, "create the private, encrypted bucket (idempotent)", True)
    add("upload", cmd_upload, "upload the photos to data/01_raw/fruits-360/", True).add_argument(
        "local_dir", help="folder with Training/<Class>/*.jpg and Test/<Class>/*.jpg"
    )
    add("deploy", cmd_deploy, "upload wheel, conf, bootstrap.sh, entrypoint.py", True).add_argument(
        "--dist", default="dist", help="kedro package output (default: %(default)s)"
    )
    add("launch", cmd_launch, "start a cluster that runs the pipeline once", True).add_argument(
        "--params", help="extra kedro --params, k=v,k2=v2"
    )
    add("status", cmd_status, "cluster and step states").add_argument(
        "cluster_id", nargs="?", help="default: the newest active cluster of the project"
    )
    logs = add("logs", cmd_logs, "print the step's stdout/stderr from S3")
    logs.add_argument("cluster_id")
    logs.add_argument("--step", help="step id (default: the newest step)")
    add("terminate", cmd_terminate, "terminate a cluster", True).add_argument("cluster_id")
    add("cost", cmd_cost, "estimated cost of one run")
    add("iam-policy", cmd_iam_policy, "least-privilege S3 policy for the cluster's EC2 role")
    return parser


HINTS = {
    "NoSuchBucket": "create it with `fruits-emr bucket` (or fix bucket in the settings file)",
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
    try:
        app = App(load_settings(args.config), getattr(args, "dry_run", False))
        return args.func(app, args)
    except CliError as error:
        message = str(error)
    except NoCredentialsError:
        message = (
            "no AWS credentials found: run `aws configure`, set AWS_PROFILE, or use an "
            "instance profile"
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "?")
        text = error.response.get("Error", {}).get("Message", "")
        hint = HINTS.get(code, "see the AWS message")
        message = f"{code} on {app.target} ({error.operation_name}): {text} -> {hint}"
    except BotoCoreError as error:  # endpoint unreachable, partial credentials, ...
        message = f"{type(error).__name__} on {app.target if app else '?'}: {error}"
    print(f"fruits-emr {args.command}: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
