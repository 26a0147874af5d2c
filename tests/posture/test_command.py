"""``trailguard posture`` end to end on the moto server: findings stored and archived,
exit codes, JSON output, the accounts file and one unreachable account among several."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trailguard.cli import app
from trailguard.errors import ConfigError
from trailguard.findings.store import FindingFilter, Store
from trailguard.posture.accounts import load_accounts


@pytest.fixture
def cli(pz: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``trailguard posture`` against the moto server, with its own store."""
    monkeypatch.chdir(tmp_path)  # no trailguard.toml of the developer's
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TRAILGUARD_POSTURE_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("COLUMNS", "200")  # rich: room for whole names
    db = tmp_path / "findings.db"

    def run(*args: str) -> Any:
        argv = ["posture", "--endpoint-url", pz.endpoint, "--regions", "us-east-1"]
        return CliRunner().invoke(app, [*argv, "--db", str(db), *args])

    run.db = db  # type: ignore[attr-defined]
    return run


def findings(db: Path, archived: bool | None = False) -> list[dict[str, Any]]:
    store = Store.open(db)
    try:
        return store.list_findings(FindingFilter(archived=archived))
    finally:
        store.close()


def test_failures_become_findings_and_fixes_archive_them(pz: Any, cli: Any) -> None:
    s3 = pz.client("s3")
    s3.create_bucket(Bucket="fixable-bucket")
    s3.create_bucket(Bucket="doomed-bucket")
    first = cli("--check", "s3_bucket_versioning")
    assert first.exit_code == 3, first.output
    assert "fixable-bucket" in first.output
    stored = findings(cli.db)
    assert sorted(f["resource"]["s3BucketDetails"][0]["name"] for f in stored) == [
        "doomed-bucket",
        "fixable-bucket",
    ]
    f = stored[0]
    assert f["type"] == "Policy:S3/BucketVersioningDisabled"
    assert f["service"]["featureName"] == "Posture"
    assert f["accountId"] == pz.ACCOUNT and f["region"] == "us-east-1"
    assert "put-bucket-versioning" in f["service"]["additionalInfo"]["value"]["remediation"]["cli"]

    s3.put_bucket_versioning(Bucket="fixable-bucket", VersioningConfiguration={"Status": "Enabled"})
    s3.delete_bucket(Bucket="doomed-bucket")
    second = cli("--check", "s3_bucket_versioning")
    assert second.exit_code == 0, second.output
    assert findings(cli.db) == []
    assert len(findings(cli.db, archived=True)) == 2


def test_a_failure_that_persists_counts_runs(pz: Any, cli: Any) -> None:
    pz.client("s3").create_bucket(Bucket="plain-bucket")
    cli("--check", "s3_bucket_versioning")
    cli("--check", "s3_bucket_versioning")
    (f,) = findings(cli.db)
    assert f["service"]["count"] == 2


def test_fail_on_and_json(pz: Any, cli: Any) -> None:
    pz.client("s3").create_bucket(Bucket="plain-bucket")
    # a Low failure (access logging) below --fail-on medium: exit 0
    low = cli("--check", "s3_bucket_access_logging", "--fail-on", "medium", "--format", "json")
    assert low.exit_code == 0, low.output
    doc = json.loads(low.output)
    assert doc["checks"][0]["check"] == "s3_bucket_access_logging"
    assert (doc["checks"][0]["FAIL"], doc["checks"][0]["severity"]) == (1, "Low")
    (r,) = doc["results"]
    assert (r["status"], r["resource"], r["severity"]) == ("FAIL", "plain-bucket", "Low")
    assert doc["findings"]["new"] == 1
    assert doc["accounts"] == [
        {"accountId": pz.ACCOUNT, "name": "", "regions": ["us-east-1"], "reachable": True}
    ]


def test_skipped_checks_exit_4(pz: Any, cli: Any) -> None:
    rds = pz.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="db-any",
        DBInstanceClass="db.t3.micro",
        Engine="mysql",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-real-password",
        AllocatedStorage=20,
    )
    # moto does not implement DescribeCertificates: the check is skipped, not failed
    got = cli("--check", "rds_ca_certificate_expiry")
    assert got.exit_code == 4, got.output
    assert "rds:DescribeCertificates" in got.output and "not-implemented" in got.output


def test_usage_errors_exit_2(cli: Any, tmp_path: Path) -> None:
    assert cli("--check", "no_such_check").exit_code == 2
    assert cli("--fail-on", "severe").exit_code == 2
    bad = tmp_path / "accounts.toml"
    bad.write_text('[[account]]\nid = "12345"\nrole = "Audit"\n', encoding="utf-8")
    got = cli("--accounts", str(bad))
    assert got.exit_code == 2 and "account.0.id" in got.output


def test_accounts_file(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(
        '[[account]]\nid = "111122223333"\nrole = "Audit"\nname = "prod"\n'
        'regions = ["eu-west-1"]\n\n'
        '[[account]]\nid = "444455556666"\n'
        'role = "arn:aws:iam::444455556666:role/path/Audit"\nexternal_id = "x-1"\n',
        encoding="utf-8",
    )
    a, b = load_accounts(path)
    assert (a.role_arn, a.name, a.regions) == (
        "arn:aws:iam::111122223333:role/Audit",
        "prod",
        ("eu-west-1",),
    )
    assert (b.role_arn, b.external_id) == ("arn:aws:iam::444455556666:role/path/Audit", "x-1")
    for text, where in [
        ('[[account]]\nid = "111122223333"\nrole = "arn:aws:iam::999999999999:role/A"\n', "role"),
        ('[[account]]\nid = "111122223333"\nrole = "A"\ncolour = "red"\n', "colour"),
        ("account = []\n", "account"),
        ('[[account]]\nid = "111122223333"\nrole = "A"\n' * 2, "twice"),
    ]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=where):
            load_accounts(path)


def test_one_unreachable_account_does_not_stop_the_others(
    pz: Any, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto enforces IAM: the auditor may assume the role in one account, not the other."""
    # the reachable account: a role that allows everything, and a bucket
    sts = pz.client("sts")
    setup = sts.assume_role(RoleArn="arn:aws:iam::222233334444:role/Audit", RoleSessionName="setup")
    creds = setup["Credentials"]
    member = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    iam_b = pz.client("iam", **member)
    iam_b.create_role(
        RoleName="Audit",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    iam_b.put_role_policy(
        RoleName="Audit",
        PolicyName="all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    pz.client("s3", **member).create_bucket(Bucket="member-bucket")
    # the caller: may not assume the role of 333344445555
    iam = pz.client("iam")
    iam.create_user(UserName="auditor")
    iam.put_user_policy(
        UserName="auditor",
        PolicyName="audit",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "*", "Resource": "*"},
                    {
                        "Effect": "Deny",
                        "Action": "sts:AssumeRole",
                        "Resource": "arn:aws:iam::333344445555:role/Audit",
                    },
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    monkeypatch.delenv("AWS_SECURITY_TOKEN")
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[[account]]\nid = "333344445555"\nrole = "Audit"\nname = "locked"\n\n'
        '[[account]]\nid = "222233334444"\nrole = "Audit"\nname = "member"\n',
        encoding="utf-8",
    )
    pz.enforce_auth(True)
    try:
        got = cli(
            "--accounts", str(accounts), "--check", "s3_bucket_versioning", "--format", "json"
        )
    finally:
        pz.enforce_auth(False)
    doc = json.loads(got.stdout)
    locked, member_doc = doc["accounts"]
    assert (locked["name"], locked["reachable"]) == ("locked", False)
    assert "denied" in locked["error"]
    assert (member_doc["accountId"], member_doc["reachable"]) == ("222233334444", True)
    assert [(r["accountId"], r["resource"], r["status"]) for r in doc["results"]] == [
        ("222233334444", "member-bucket", "FAIL")
    ]
    assert got.exit_code == 3  # the failure wins over the unreachable account (4)
