"""The settings of `fruits-emr`, read from deploy/emr.yml (see the comments there) and the
kedro env files it names. Validated once, at start: a bad value is one line naming the file,
the key, the value and what is allowed (exit code 2), never a traceback."""

from __future__ import annotations

import functools
import ipaddress
import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
)


class CliError(Exception):
    """A problem the user can fix: printed as one line on stderr, exit code ``code``."""

    code = 1


class InputError(CliError):
    """Invalid input (settings file, command-line value): exit code 2, like argparse."""

    code = 2


# ---------------------------------------------------------------- value rules


def _bucket_name(name: str) -> str:
    """S3's general-purpose bucket naming rules (docs: "Bucket naming rules")."""
    allowed = (
        "3-63 characters of a-z 0-9 . -, starting and ending with a letter or digit, no '..', "
        "not an IP address, no xn--/sthree-/amzn-s3-demo- prefix or -s3alias/--ol-s3/.mrap/"
        "--x-s3/--table-s3 suffix"
    )
    ok = (
        re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name) is not None
        and ".." not in name
        and not name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        and not name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))
    )
    if ok:
        try:
            ipaddress.ip_address(name)
            ok = False
        except ValueError:
            pass
    if not ok:
        raise ValueError(f"not a valid S3 bucket name (allowed: {allowed})")
    return name


def _prefix(prefix: str) -> str:
    segment = r"[A-Za-z0-9_.!*'()-]+"
    if re.fullmatch(rf"{segment}(/{segment})*", prefix) is None or any(
        part in (".", "..") for part in prefix.split("/")
    ):
        raise ValueError(
            "not a valid key prefix (allowed: segments of A-Z a-z 0-9 _ . ! * ' ( ) - separated "
            "by single '/', no leading or trailing '/', no '.' or '..' segment)"
        )
    return prefix


def _region(region: str) -> str:
    known = known_regions()
    if region not in known:
        raise ValueError(f"unknown AWS region (allowed: {', '.join(sorted(known))})")
    return region


@functools.cache
def known_regions() -> frozenset[str]:
    """Regions where botocore's endpoint data lists EMR (no network call)."""
    import botocore.session  # noqa: PLC0415 - the ops extra; settings import stays cheap

    return frozenset(botocore.session.get_session().get_available_regions("emr"))


def _absolute_posix(path: str) -> str:
    if not path.startswith("/") or ".." in path.split("/") or path.rstrip("/") != path:
        raise ValueError("must be an absolute POSIX path without '..' or a trailing '/'")
    return path


Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w+=,.@-]+$", strict=True)]
Bucket = Annotated[str, Field(strict=True), AfterValidator(_bucket_name)]
Prefix = Annotated[str, Field(strict=True), AfterValidator(_prefix)]
Region = Annotated[str, Field(strict=True), AfterValidator(_region)]
Count = Annotated[StrictInt, Field(ge=1, le=500)]
Days = Annotated[StrictInt, Field(ge=1, le=3650)]
Price = Annotated[float, Field(ge=0, strict=True)]
Memory = Annotated[str, Field(strict=True, pattern=r"^[1-9][0-9]*[kmgt]$")]
InstanceType = Annotated[str, Field(strict=True, pattern=r"^[a-z][a-z0-9-]*\.[0-9]*[a-z]+$")]
KmsKey = Annotated[str, Field(strict=True, pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/")]
OutputDir = Annotated[str, Field(strict=True), AfterValidator(_prefix)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Group(Strict):
    instance_type: InstanceType
    count: Count


class Cluster(Strict):
    name: Annotated[str, Field(min_length=1, max_length=256, strict=True)]
    release_label: Annotated[str, Field(strict=True, pattern=r"^emr-[a-z0-9.-]+$")]
    spark_version: Annotated[str, Field(strict=True, pattern=r"^\d+\.\d+(\.\d+)?$")]
    applications: list[Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9-]+$")]] = Field(
        min_length=1
    )
    master: Group
    core: Group
    ec2_key_name: Annotated[str, Field(min_length=1, max_length=255, strict=True)] | None = None
    subnet_id: Annotated[str, Field(strict=True, pattern=r"^subnet-[0-9a-f]{8,17}$")] | None = None
    keep_alive: StrictBool
    idle_timeout_seconds: Annotated[StrictInt, Field(ge=60, le=7 * 24 * 3600)]
    tags: dict[Annotated[str, Field(min_length=1, max_length=128)], str]
    security_configuration: Name
    local_disk_key_alias: Annotated[str, Field(strict=True, pattern=r"^alias/[A-Za-z0-9/_-]+$")]


class Roles(Strict):
    service: Name  # EMR's service role (control plane)
    ec2: Name  # the nodes' role; its instance profile has the same name
    serverless_job: Name  # EMR Serverless job runtime role


class BucketSettings(Strict):
    kms_key_arn: KmsKey | None = None  # null: SSE-S3 (AES256)
    log_expiry_days: Days
    noncurrent_version_expiry_days: Days
    abort_incomplete_upload_days: Days


class Serverless(Strict):
    application_name: Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9._/#-]{1,64}$")]
    release_label: Annotated[str, Field(strict=True, pattern=r"^emr-[a-z0-9.-]+$")]
    image_uri: (
        Annotated[
            str, Field(strict=True, pattern=r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/")
        ]
        | None
    ) = None
    architecture: Literal["X86_64", "ARM64"]
    max_cpu: Annotated[str, Field(strict=True, pattern=r"^\d+ ?vCPU$")]
    max_memory: Annotated[str, Field(strict=True, pattern=r"^\d+ ?GB$")]
    idle_stop_minutes: Annotated[StrictInt, Field(ge=1, le=10080)]
    execution_timeout_minutes: Annotated[StrictInt, Field(ge=1, le=10080)]


class Prices(Strict):
    ec2: Price
    emr: Price


class Cost(Strict):
    expected_run_hours: Annotated[float, Field(gt=0, le=1000, strict=True)]
    prices_note: str = ""
    prices_usd_per_hour: dict[InstanceType, Prices]


class EmrFile(Strict):
    kedro_globals: str
    kedro_spark: str
    cluster: Cluster
    roles: Roles
    bucket: BucketSettings
    serverless: Serverless
    venv_path: Annotated[str, Field(strict=True), AfterValidator(_absolute_posix)]
    # Prefixes under <prefix>/data/ the pipeline writes (the cluster may write nothing else).
    output_dirs: list[OutputDir] = Field(min_length=1)
    cost: Cost


class KedroGlobals(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)
    aws_region: Region
    s3_bucket: Bucket
    s3_prefix: Prefix


class KedroSpark(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)
    driver_memory: Memory = Field(alias="spark.driver.memory")


# ---------------------------------------------------------------- the settings


class Settings(BaseModel):
    """Everything fruits-emr needs, validated. Built by ``load_settings``."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    source: Path
    region: str
    bucket: str
    prefix: str
    cluster: Cluster
    roles: Roles
    bucket_settings: BucketSettings
    serverless: Serverless
    venv_path: str
    output_dirs: tuple[str, ...]
    driver_memory: str
    cost: Cost

    # Shortcuts used all over the plan.
    @property
    def groups(self) -> tuple[tuple[str, Group], ...]:
        return (("MASTER", self.cluster.master), ("CORE", self.cluster.core))

    @property
    def tags(self) -> dict[str, str]:
        return self.cluster.tags

    # Keys and URIs of the S3 layout (globals.yml gives the same data root to kedro).
    def key(self, *parts: str) -> str:
        return "/".join([self.prefix, *parts])

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"

    @property
    def deploy_key(self) -> str:
        return self.key("deploy") + "/"

    @property
    def raw_key(self) -> str:
        return self.key("data", "01_raw", "fruits-360") + "/"

    @property
    def log_uri(self) -> str:
        return self.uri("logs") + "/"

    @property
    def install_dir(self) -> str:
        """Where bootstrap.sh copies the wheel, the conf tarball and entrypoint.py."""
        return str(PurePosixPath(self.venv_path).parent)


def _read_yaml(path: Path, what: str) -> Any:
    if not path.is_file():
        raise InputError(f"{what} {path} not found: run from the project root or pass --config")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise InputError(f"{path}: YAML syntax error{where}: {problem}") from None


ALLOWED = {
    "bool_type": "true or false, unquoted",
    "int_type": "an unquoted whole number",
    "float_type": "an unquoted number",
    "string_type": "a text value",
    "dict_type": "a mapping (key: value lines)",
    "list_type": "a list ([a, b])",
}


def _explain(path: Path, error: ValidationError) -> InputError:
    """The first problem of a pydantic error as one line: file, key, value, what is allowed."""
    first = error.errors(include_url=False)[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "missing":
        return InputError(f"{path}: {key} is missing (required)")
    if first["type"] == "extra_forbidden":
        return InputError(f"{path}: {key} is not a known setting (typo?)")
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] in ALLOWED:
        message += f" (allowed: {ALLOWED[first['type']]})"
    value = first.get("input")
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return InputError(f"{path}: {key} = {shown}: {message}")


def _validate(model: type[BaseModel], data: Any, path: Path) -> Any:
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _explain(path, error) from None


def load_settings(path: str | Path) -> Settings:
    path = Path(path)
    raw: EmrFile = _validate(EmrFile, _read_yaml(path, "settings file"), path)
    # Region, bucket and prefix have one home: the kedro env the cluster runs.
    globals_path = path.parent / raw.kedro_globals
    where: KedroGlobals = _validate(
        KedroGlobals, _read_yaml(globals_path, "kedro_globals file"), globals_path
    )
    spark_path = path.parent / raw.kedro_spark
    spark: KedroSpark = _validate(
        KedroSpark, _read_yaml(spark_path, "kedro_spark file"), spark_path
    )
    used = {raw.cluster.master.instance_type, raw.cluster.core.instance_type}
    missing = used - raw.cost.prices_usd_per_hour.keys()
    if missing:
        raise InputError(
            f"{path}: cost.prices_usd_per_hour has no price for {', '.join(sorted(missing))} "
            "(allowed: one entry {ec2: USD, emr: USD} per instance type used)"
        )
    return Settings(
        source=path,
        region=where.aws_region,
        bucket=where.s3_bucket,
        prefix=where.s3_prefix,
        cluster=raw.cluster,
        roles=raw.roles,
        bucket_settings=raw.bucket,
        serverless=raw.serverless,
        venv_path=raw.venv_path,
        output_dirs=tuple(raw.output_dirs),
        driver_memory=spark.driver_memory,
        cost=raw.cost,
    )
