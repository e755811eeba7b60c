"""The settings of `fruits-emr`, read from deploy/emr.yml (see the comments there)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml


class CliError(Exception):
    """A problem the user can fix: printed as one line on stderr, exit code 1."""


@dataclass(frozen=True)
class Group:
    role: str  # MASTER or CORE (EMR's names)
    instance_type: str
    count: int


@dataclass(frozen=True)
class Settings:
    source: Path
    region: str
    bucket: str
    prefix: str
    cluster_name: str
    release_label: str
    spark_version: str
    applications: tuple[str, ...]
    groups: tuple[Group, ...]
    ec2_key_name: str | None
    subnet_id: str | None
    service_role: str
    instance_profile: str
    keep_alive: bool
    idle_timeout_seconds: int
    tags: dict[str, str]
    venv_path: str
    expected_run_hours: float
    prices_note: str
    prices: dict[str, dict[str, float]]

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


def load_settings(path: str | Path) -> Settings:
    path = Path(path)
    if not path.is_file():
        raise CliError(
            f"settings file {path} not found: run from the project root or pass --config PATH"
        )
    raw = yaml.safe_load(path.read_text())
    try:
        cluster, cost = raw["cluster"], raw["cost"]
        # Region, bucket and prefix have one home: the kedro env the cluster runs.
        kedro_globals = path.parent / raw["kedro_globals"]
        if not kedro_globals.is_file():
            raise CliError(f"{path}: kedro_globals file {kedro_globals} not found")
        where = yaml.safe_load(kedro_globals.read_text())
        return Settings(
            source=path,
            region=where["aws_region"],
            bucket=where["s3_bucket"],
            prefix=str(where["s3_prefix"]).strip("/"),
            cluster_name=cluster["name"],
            release_label=cluster["release_label"],
            spark_version=str(cluster["spark_version"]),
            applications=tuple(cluster["applications"]),
            groups=tuple(
                Group(role, cluster[name]["instance_type"], int(cluster[name]["count"]))
                for role, name in (("MASTER", "master"), ("CORE", "core"))
            ),
            ec2_key_name=cluster.get("ec2_key_name"),
            subnet_id=cluster.get("subnet_id"),
            service_role=cluster["service_role"],
            instance_profile=cluster["instance_profile"],
            keep_alive=bool(cluster["keep_alive"]),
            idle_timeout_seconds=int(cluster["idle_timeout_seconds"]),
            tags={str(k): str(v) for k, v in cluster["tags"].items()},
            venv_path=str(raw["venv_path"]).rstrip("/"),
            expected_run_hours=float(cost["expected_run_hours"]),
            prices_note=str(cost.get("prices_note", "")),
            prices={
                name: {"ec2": float(p["ec2"]), "emr": float(p["emr"])}
                for name, p in cost["prices_usd_per_hour"].items()
            },
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CliError(f"{path}: missing or invalid setting ({error!r})") from None
