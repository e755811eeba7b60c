"""Strict settings: bad input is one line naming the key, the value and what is allowed,
exit code 2, never a traceback. Property-based on the parser (hypothesis)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fruits_pipeline.emr import cli
from fruits_pipeline.emr.settings import InputError, known_regions, load_settings

pytestmark = pytest.mark.emr

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "deploy" / "emr.yml"
GLOBALS = REPO / "conf" / "emr" / "globals.yml"
SPARK = REPO / "conf" / "emr" / "spark.yml"


def write_config(folder: Path, emr: dict | None = None, where: dict | None = None) -> Path:
    """A copy of the settings (and of the globals they name) with some values replaced."""
    raw = yaml.safe_load(CONFIG.read_text())
    globals_yml = yaml.safe_load(GLOBALS.read_text())
    for dotted, value in (emr or {}).items():
        *parents, last = dotted.split(".")
        node = raw
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    globals_yml.update(where or {})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "globals.yml").write_text(yaml.safe_dump(globals_yml))
    raw["kedro_globals"] = "globals.yml"
    raw["kedro_spark"] = str(SPARK)
    (folder / "emr.yml").write_text(yaml.safe_dump(raw))
    return folder / "emr.yml"


DELETE = object()


def cli_error(config: Path, capsys) -> tuple[int, str]:
    code = cli.main(["--config", str(config), "cost"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


@pytest.mark.parametrize(
    "case",
    [
        ({}, {"s3_bucket": "Fruits_Data"}, "s3_bucket", "'Fruits_Data'", "3-63 characters"),
        ({}, {"s3_bucket": "ab"}, "s3_bucket", "'ab'", "3-63 characters"),
        ({}, {"s3_bucket": "192.168.1.1"}, "s3_bucket", "'192.168.1.1'", "IP address"),
        ({}, {"aws_region": "eu-west-9"}, "aws_region", "'eu-west-9'", "eu-west-3"),
        ({}, {"s3_prefix": "a/../b"}, "s3_prefix", "'a/../b'", "no '.' or '..' segment"),
        ({}, {"s3_prefix": "/abs"}, "s3_prefix", "'/abs'", "no leading or trailing '/'"),
        ({"cluster.keep_alive": "false"}, {}, "cluster.keep_alive", "'false'", "boolean"),
        ({"cluster.core.count": 0}, {}, "cluster.core.count", "0", "greater than or equal to 1"),
        ({"cluster.master.count": -2}, {}, "cluster.master.count", "-2", "greater than or equal"),
        ({"cluster.core.count": "2"}, {}, "cluster.core.count", "'2'", "integer"),
        ({"cluster.idle_timeout_seconds": 5}, {}, "cluster.idle_timeout_seconds", "5", "60"),
        ({"cluster.subnet_id": "sub-1"}, {}, "cluster.subnet_id", "'sub-1'", "subnet-"),
        ({"cost.expected_run_hours": 0}, {}, "cost.expected_run_hours", "0", "greater than 0"),
        ({"venv_path": "opt/venv"}, {}, "venv_path", "'opt/venv'", "absolute POSIX path"),
        ({"roles.ec2": "bad role"}, {}, "roles.ec2", "'bad role'", "pattern"),
    ],
)
def test_bad_values_are_one_line_with_key_value_and_what_is_allowed(tmp_path, capsys, case):
    emr, where, key, value, allowed = case
    code, err = cli_error(write_config(tmp_path, emr, where), capsys)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert f"{key} = {value}" in line and allowed in line, line
    source = "globals.yml" if where else "emr.yml"
    assert source in line


def test_missing_and_unknown_keys_are_named(tmp_path, capsys):
    code, err = cli_error(write_config(tmp_path / "a", {"cluster.release_label": DELETE}), capsys)
    assert code == 2 and "cluster.release_label is missing (required)" in err
    code, err = cli_error(write_config(tmp_path / "b", {"cluster.keep_alive_typo": True}), capsys)
    assert code == 2 and "cluster.keep_alive_typo is not a known setting" in err
    code, err = cli_error(write_config(tmp_path / "c", {}, {"s3_bucket": None}), capsys)
    assert code == 2 and "s3_bucket = None" in err


def test_yaml_syntax_error_names_the_line(tmp_path, capsys):
    config = write_config(tmp_path)
    lines = config.read_text().splitlines()
    lines.insert(3, "cluster: [unclosed")
    config.write_text("\n".join(lines))
    code, err = cli_error(config, capsys)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert str(config) in line and "YAML syntax error at line" in line


def test_a_price_is_needed_for_every_instance_type(tmp_path, capsys):
    code, err = cli_error(
        write_config(tmp_path, {"cluster.core.instance_type": "r5.xlarge"}), capsys
    )
    assert code == 2 and "no price for r5.xlarge" in err


def test_the_shipped_settings_are_valid():
    loaded = load_settings(CONFIG)
    assert loaded.region in known_regions() and loaded.driver_memory == "4g"


# ---------------------------------------------------------------- properties


def s3_name_ok(name: str) -> bool:
    """S3's bucket naming rules, written independently of the implementation."""
    if not 3 <= len(name) <= 63 or set(name) - set("abcdefghijklmnopqrstuvwxyz0123456789.-"):
        return False
    if not (name[0].isalnum() and name[-1].isalnum()) or ".." in name:
        return False
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")):
        return False
    if name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")):
        return False
    try:
        ipaddress.IPv4Address(name)
        return False
    except ValueError:
        return True


PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
bucket_names = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=70),
    st.text(min_size=0, max_size=20),
    st.sampled_from(["xn--abc", "my-bucket--ol-s3", "10.0.0.1", "a..b", "valid-name-1"]),
)


@PROPERTY
@given(name=bucket_names)
def test_bucket_names_accepted_exactly_when_s3_accepts_them(tmp_path_factory, name):
    folder = tmp_path_factory.mktemp("cfg")
    config = write_config(folder, {}, {"s3_bucket": name})
    if s3_name_ok(name):
        assert load_settings(config).bucket == name
    else:
        with pytest.raises(InputError) as error:
            load_settings(config)
        assert error.value.code == 2 and "s3_bucket = " in str(error.value)
        assert "\n" not in str(error.value)


@PROPERTY
@given(count=st.one_of(st.integers(-5, 600), st.text(max_size=3), st.booleans(), st.floats()))
def test_counts_are_positive_integers(tmp_path_factory, count):
    config = write_config(tmp_path_factory.mktemp("cfg"), {"cluster.core.count": count})
    ok = isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= 500
    if ok:
        assert load_settings(config).cluster.core.count == count
    else:
        with pytest.raises(InputError, match=r"cluster\.core\.count = "):
            load_settings(config)


@PROPERTY
@given(value=st.one_of(st.booleans(), st.text(max_size=6), st.integers(), st.none()))
def test_keep_alive_must_be_a_yaml_boolean(tmp_path_factory, value):
    config = write_config(tmp_path_factory.mktemp("cfg"), {"cluster.keep_alive": value})
    if isinstance(value, bool):
        assert load_settings(config).cluster.keep_alive is value
    else:
        with pytest.raises(InputError, match=r"cluster\.keep_alive = "):
            load_settings(config)


segment = st.text(alphabet="abcAZ09_-.!*'()", min_size=1, max_size=8)
prefixes = st.one_of(
    st.lists(segment, min_size=1, max_size=4).map("/".join),
    st.text(max_size=20),
    st.lists(segment, min_size=1, max_size=3).map(lambda p: "/" + "/".join(p)),
)


@PROPERTY
@given(prefix=prefixes)
def test_prefixes_have_no_dot_segments_or_stray_slashes(tmp_path_factory, prefix):
    config = write_config(tmp_path_factory.mktemp("cfg"), {}, {"s3_prefix": prefix})
    parts = prefix.split("/")
    ok = (
        bool(prefix)
        and all(p and re.fullmatch(r"[A-Za-z0-9_.!*'()-]+", p) for p in parts)
        and not any(p in (".", "..") for p in parts)
    )
    if ok:
        loaded = load_settings(config)
        assert loaded.prefix == prefix and loaded.uri("x") == f"s3://{loaded.bucket}/{prefix}/x"
    else:
        with pytest.raises(InputError, match="s3_prefix = "):
            load_settings(config)


yaml_garbage = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@PROPERTY
@given(section=st.sampled_from(["cluster", "roles", "bucket", "cost", "serverless"]),
       value=yaml_garbage)  # fmt: skip
def test_any_garbage_in_a_section_is_an_input_error_never_a_crash(tmp_path_factory, section, value):
    config = write_config(tmp_path_factory.mktemp("cfg"), {section: value})
    with pytest.raises(InputError) as error:
        load_settings(config)
    assert error.value.code == 2 and section in str(error.value)


def test_dev_installs_the_ops_tool_and_the_wheel_does_not_depend_on_it():
    import tomllib  # noqa: PLC0415

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    ops = project["optional-dependencies"]["ops"]
    assert set(ops) <= set(project["optional-dependencies"]["dev"])  # make venv has fruits-emr
    names = {re.split(r"[=\[<>]", requirement)[0] for requirement in ops}
    assert names == {"tqdm", "build"}
    runtime = {re.split(r"[=\[<>]", r)[0] for r in project["dependencies"]}
    assert not names & runtime
    assert "boto3" in runtime  # fruits-emr's AWS client is also mlflow's S3 artifact store
