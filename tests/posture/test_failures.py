"""What AWS refuses does not stop a run: denied APIs (moto enforcing IAM), throttling
(botocore's Stubber with the documented Throttling error, since moto never throttles),
operations the endpoint does not implement, an unreachable endpoint, a broken check."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar

import botocore.exceptions
from botocore.stub import Stubber

from trailguard.posture.accounts import AccountTarget
from trailguard.posture.aws import AwsOptions, classify
from trailguard.posture.checks import ALL_CHECKS
from trailguard.posture.checks.base import LOW, Check, CheckMeta, CheckResult
from trailguard.posture.model import AccountSnapshot, PostureConfig
from trailguard.posture.run import evaluate, run_posture

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def auditor(pz: Any, *denied: str) -> dict[str, str]:
    """An IAM user allowed everything but ``denied``; its access key as session arguments."""
    iam = pz.client("iam")
    iam.create_user(UserName="auditor")
    statements: list[dict[str, Any]] = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    statements += [{"Effect": "Deny", "Action": d, "Resource": "*"} for d in denied]
    iam.put_user_policy(
        UserName="auditor",
        PolicyName="audit",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    return {
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
    }


def test_a_denied_api_skips_only_what_needs_it(pz: Any, monkeypatch: Any) -> None:
    s3 = pz.client("s3")
    s3.create_bucket(Bucket="some-bucket")
    creds = auditor(pz, "s3:GetBucketPolicy")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["aws_secret_access_key"])
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    monkeypatch.delenv("AWS_SECURITY_TOKEN")
    pz.enforce_auth(True)
    snapshot = pz.snap(services=frozenset({"s3", "s3control"}))
    pz.enforce_auth(False)
    (grant,) = pz.results(snapshot, "s3_bucket_public_grant")
    assert grant.status == "SKIPPED" and grant.resource_key == "some-bucket"
    assert grant.skipped is not None
    assert (grant.skipped.api, grant.skipped.kind) == ("s3:GetBucketPolicy", "denied")
    assert pz.verdicts(snapshot, "s3_bucket_versioning") == {"some-bucket": "FAIL"}


def test_throttling_beyond_the_retries_is_skipped(pz: Any) -> None:
    """Stubber: ListBuckets answers with S3's documented SlowDown error (503)."""
    s3 = pz.client("s3", aws_access_key_id="stubbed", aws_secret_access_key="stubbed")
    with Stubber(s3) as stubber:
        stubber.add_client_error(
            "list_buckets", "SlowDown", "Please reduce your request rate.", http_status_code=503
        )
        snapshot = pz.snap(services=frozenset({"s3"}), clients={("s3", "us-east-1"): s3})
    (r,) = pz.results(snapshot, "s3_bucket_versioning")
    assert r.status == "SKIPPED" and r.resource_type == "Account"
    assert r.skipped is not None and r.skipped.kind == "throttled"


def test_error_kinds() -> None:
    def client_error(code: str, status: int) -> botocore.exceptions.ClientError:
        return botocore.exceptions.ClientError(
            {
                "Error": {"Code": code, "Message": "m"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            "Op",
        )

    assert classify(client_error("AccessDenied", 403))[0] == "denied"
    assert classify(client_error("UnauthorizedOperation", 400))[0] == "denied"
    assert classify(client_error("Throttling", 400))[0] == "throttled"
    assert classify(client_error("RequestLimitExceeded", 503))[0] == "throttled"
    assert classify(client_error("InvalidAction", 400))[0] == "not-implemented"
    assert classify(client_error("InternalError", 500))[0] == "error"
    down = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    assert classify(down)[0] == "unreachable"


def test_an_unreachable_endpoint_is_an_unreachable_account() -> None:
    # nothing listens on port 9 (discard) of 127.0.0.1 in the test environment
    options = AwsOptions(endpoint_url="http://127.0.0.1:9", max_attempts=1)
    run = run_posture([AccountTarget(None)], options, PostureConfig(), lambda: NOW, ["us-east-1"])
    (outcome,) = run.accounts
    assert outcome.error is not None and "unreachable" in outcome.error
    assert run.results == []


class BrokenCheck(Check):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="broken_check",
        finding_type="Policy:Test/Broken",
        severity=LOW,
        service="Test",
        title="raises",
        risk="none",
        remediation_cli="none",
        remediation_console="none",
    )

    def evaluate(self, snapshot: AccountSnapshot) -> list[CheckResult]:
        raise KeyError("surprise")


def test_a_broken_check_is_skipped_and_the_others_run(pz: Any) -> None:
    snapshot = pz.snap(services=frozenset({"s3control"}))
    account_check = next(c for c in ALL_CHECKS if c.meta.id == "s3_account_public_access_block")
    got = evaluate(snapshot, [BrokenCheck(), account_check])
    assert [(r.check_id, r.status) for r in got] == [
        ("broken_check", "SKIPPED"),
        ("s3_account_public_access_block", "FAIL"),
    ]
    assert got[0].skipped is not None and "surprise" in got[0].skipped.reason
