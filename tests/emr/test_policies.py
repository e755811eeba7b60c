"""Least privilege, checked: parliament (PyPI) lints every identity policy fruits-emr makes
or asks for; the S3 rights are compared with what the layout needs and no more."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from parliament import analyze_policy_string

from fruits_pipeline.emr import cli, plan
from fruits_pipeline.emr.settings import load_settings

pytestmark = pytest.mark.emr

REPO = Path(__file__).resolve().parents[2]
SETTINGS = load_settings(REPO / "deploy" / "emr.yml")
ACCOUNT = "123456789012"
POLICIES = plan.all_policies(SETTINGS, ACCOUNT)
IDENTITY = {n: p for n, p in POLICIES.items() if any(m in n for m in plan.IDENTITY_POLICIES)}


def statements(policy: dict) -> list[dict]:
    return policy["Statement"]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("name", sorted(IDENTITY))
def test_parliament_finds_nothing(name):
    result = analyze_policy_string(json.dumps(IDENTITY[name]))
    assert [(f.issue, f.detail) for f in result.findings] == []


def test_parliament_would_flag_the_old_shape():
    """The lint can fail: s3:* on every resource (the managed EC2 role's) is reported."""
    wide = {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}  # fmt: skip
    assert analyze_policy_string(json.dumps(wide)).findings


def test_identity_policies_are_the_ones_the_roles_get():
    assert len(IDENTITY) == 5  # two role data policies, pass-role, operator, setup
    for spec in plan.role_specs(SETTINGS, ACCOUNT):
        for document in spec["inline"].values():
            assert document in IDENTITY.values()


def test_no_s3_wildcard_action_and_no_star_resource_for_s3():
    for name, policy in IDENTITY.items():
        for st in statements(policy):
            actions = as_list(st["Action"])
            s3_actions = [a for a in actions if a.startswith("s3:")]
            assert not [a for a in s3_actions if "*" in a], name
            if s3_actions:
                assert "*" not in as_list(st["Resource"]), name
                for resource in as_list(st["Resource"]):
                    assert resource.startswith(f"arn:aws:s3:::{SETTINGS.bucket}"), name


def rights(policy: dict, action: str) -> set[str]:
    return {
        r
        for st in statements(policy)
        if st["Effect"] == "Allow" and action in as_list(st["Action"])
        for r in as_list(st["Resource"])
    }


def test_cluster_reads_input_and_deploy_writes_only_outputs_and_logs():
    data = plan.data_policy(SETTINGS)
    objects = f"arn:aws:s3:::{SETTINGS.bucket}/{SETTINGS.prefix}"
    assert rights(data, "s3:GetObject") == {f"{objects}/data/*", f"{objects}/deploy/*"}
    expected_writes = {f"{objects}/data/{d}/*" for d in SETTINGS.output_dirs}
    tracking = f"{objects}/{plan.MLFLOW_ARTIFACTS}/*"
    assert rights(data, "s3:PutObject") == expected_writes | {f"{objects}/logs/*", tracking}
    assert rights(data, "s3:DeleteObject") == expected_writes  # never inputs, deploy or logs
    assert not any(f"{objects}/data/01_raw" in r for r in rights(data, "s3:PutObject"))
    assert not any(a.startswith("iam:") for st in statements(data) for a in as_list(st["Action"]))


def test_cluster_may_write_where_the_emr_env_puts_mlflow_artifacts():
    conf = yaml.safe_load((REPO / "conf" / "emr" / "mlflow.yml").read_text())
    location = conf["tracking"]["experiment"]["create_experiment_kwargs"]["artifact_location"]
    assert location == f"s3://${{globals:s3_bucket}}/${{globals:s3_prefix}}/{plan.MLFLOW_ARTIFACTS}"


def test_pass_role_only_for_the_project_roles():
    arns = {plan.role_arn(ACCOUNT, r) for r in SETTINGS.roles.model_dump().values()}
    for name, policy in IDENTITY.items():
        for st in statements(policy):
            if "iam:PassRole" in as_list(st["Action"]):
                assert set(as_list(st["Resource"])) <= arns, name
                assert "iam:PassedToService" in st["Condition"]["StringEquals"], name


def test_trust_policies_trust_only_their_service_on_behalf_of_the_account():
    expected = {
        SETTINGS.roles.service: "elasticmapreduce.amazonaws.com",
        SETTINGS.roles.ec2: "ec2.amazonaws.com",
        SETTINGS.roles.serverless_job: "emr-serverless.amazonaws.com",
    }
    for spec in plan.role_specs(SETTINGS, ACCOUNT):
        (st,) = statements(spec["trust"])
        assert st["Principal"] == {"Service": expected[spec["name"]]}
        assert st["Action"] == "sts:AssumeRole" and st["Effect"] == "Allow"
        if spec["name"] != SETTINGS.roles.ec2:  # EC2 sets no aws:SourceAccount
            assert st["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_key_policy_lets_only_the_cluster_roles_use_the_disk_key():
    policy = plan.disk_key_policy(SETTINGS, ACCOUNT)
    principals = {st["Sid"]: set(as_list(st["Principal"]["AWS"])) for st in statements(policy)}
    roles = {plan.role_arn(ACCOUNT, SETTINGS.roles.ec2),
             plan.role_arn(ACCOUNT, SETTINGS.roles.service)}  # fmt: skip
    assert principals == {
        "AccountAdministers": {f"arn:aws:iam::{ACCOUNT}:root"},
        "NodesEncryptTheirDisks": roles,
        "EmrGrantsToEbs": roles,
    }
    grants = next(st for st in statements(policy) if st["Sid"] == "EmrGrantsToEbs")
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_iam_policy_command_prints_every_policy(capsys):
    code = cli.main(["--config", str(REPO / "deploy" / "emr.yml"), "--account-id", ACCOUNT,
                     "iam-policy"])  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0 and json.loads(out) == POLICIES
