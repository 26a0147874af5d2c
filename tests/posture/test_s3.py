"""S3 checks against buckets made on the moto server: PASS and FAIL per check (the empty
account is in test_empty_account.py).

moto does not keep a bucket's ``MFADelete`` state, so the MFA delete PASS case answers
S3 with botocore's Stubber, with responses shaped as AWS documents them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.stub import Stubber

from trailguard.posture.model import PostureConfig

S3 = frozenset({"s3", "s3control"})
KEEP = PostureConfig(keep_forever_buckets=frozenset({"evidence-bucket"}))
ALL_ON = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def versioned(s3: Any, name: str) -> None:
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def lifecycle(s3: Any, name: str, **actions: Any) -> None:
    rule = {"ID": "r1", "Status": "Enabled", "Filter": {"Prefix": ""}, **actions}
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [rule]})


def public_policy(name: str, condition: dict[str, Any] | None = None) -> str:
    st: dict[str, Any] = {
        "Sid": "Everyone",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*",
    }
    if condition:
        st["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [st]})


# --- versioning ------------------------------------------------------------------------


def test_versioning_pass_and_fail(pz: Any) -> None:
    s3 = pz.client("s3")
    versioned(s3, "good-bucket")
    s3.create_bucket(Bucket="plain-bucket")
    versioned(s3, "paused-bucket")
    s3.put_bucket_versioning(
        Bucket="paused-bucket", VersioningConfiguration={"Status": "Suspended"}
    )
    got = pz.results(pz.snap(services=S3), "s3_bucket_versioning")
    assert {r.resource_key: r.status for r in got} == {
        "good-bucket": "PASS",
        "plain-bucket": "FAIL",
        "paused-bucket": "FAIL",
    }
    paused = next(r for r in got if r.resource_key == "paused-bucket")
    assert "suspended" in paused.message
    assert paused.resource["resourceType"] == "S3Bucket"
    assert paused.resource["s3BucketDetails"][0]["arn"] == "arn:aws:s3:::paused-bucket"


def test_bucket_in_another_region_is_read_there(pz: Any) -> None:
    s3 = pz.client("s3", "eu-west-1")
    s3.create_bucket(
        Bucket="eu-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    (r,) = pz.results(pz.snap(services=S3), "s3_bucket_versioning")
    assert (r.resource_key, r.region, r.status) == ("eu-bucket", "eu-west-1", "FAIL")


# --- MFA delete ------------------------------------------------------------------------


def test_mfa_delete_fails_on_keep_forever_and_is_informational_elsewhere(pz: Any) -> None:
    s3 = pz.client("s3")
    versioned(s3, "evidence-bucket")  # keep-forever by the config list
    versioned(s3, "tagged-bucket")  # keep-forever by tag
    s3.put_bucket_tagging(
        Bucket="tagged-bucket",
        Tagging={"TagSet": [{"Key": "trailguard:keep-forever", "Value": "true"}]},
    )
    versioned(s3, "scratch-bucket")
    got = pz.results(pz.snap(KEEP, services=S3), "s3_bucket_mfa_delete")
    assert {r.resource_key: r.status for r in got} == {
        "evidence-bucket": "FAIL",
        "tagged-bucket": "FAIL",
        "scratch-bucket": "INFO",
    }
    tagged = next(r for r in got if r.resource_key == "tagged-bucket")
    assert {"key": "trailguard:keep-forever", "value": "true"} in tagged.resource[
        "s3BucketDetails"
    ][0]["tags"]


def _stub_one_bucket(stubber: Stubber, name: str, versioning: dict[str, Any]) -> None:
    """The S3 calls of one bucket's snapshot, in the order it makes them, answered as the
    S3 API reference documents (absent configurations are their documented errors)."""
    stubber.add_response(
        "list_buckets",
        {
            "Buckets": [
                {
                    "Name": name,
                    "CreationDate": datetime(2026, 1, 1, tzinfo=UTC),
                    "BucketRegion": "us-east-1",
                }
            ],
            "Owner": {"DisplayName": "owner", "ID": "a" * 64},
        },
    )
    stubber.add_response("get_bucket_versioning", versioning, {"Bucket": name})
    stubber.add_client_error("get_bucket_tagging", "NoSuchTagSet", http_status_code=404)
    stubber.add_client_error(
        "get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration", http_status_code=404
    )
    stubber.add_response(
        "get_public_access_block", {"PublicAccessBlockConfiguration": ALL_ON}, {"Bucket": name}
    )
    stubber.add_client_error("get_bucket_policy", "NoSuchBucketPolicy", http_status_code=404)
    stubber.add_response(
        "get_bucket_acl",
        {
            "Owner": {"ID": "a" * 64},
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": "a" * 64}, "Permission": "FULL_CONTROL"}
            ],
        },
        {"Bucket": name},
    )
    stubber.add_response(
        "get_bucket_encryption",
        {
            "ServerSideEncryptionConfiguration": {
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
            }
        },
        {"Bucket": name},
    )
    stubber.add_response("get_bucket_logging", {}, {"Bucket": name})


def test_mfa_delete_pass_through_stubber(pz: Any) -> None:
    """Stubber: moto forgets MFADelete; GetBucketVersioning answers as AWS does when it is on."""
    s3 = pz.client("s3")
    with Stubber(s3) as stubber:
        _stub_one_bucket(stubber, "evidence-bucket", {"Status": "Enabled", "MFADelete": "Enabled"})
        snapshot = pz.snap(KEEP, clients={("s3", "us-east-1"): s3}, services=S3)
        stubber.assert_no_pending_responses()
    assert pz.verdicts(snapshot, "s3_bucket_mfa_delete") == {"evidence-bucket": "PASS"}
    # the same answers feed the other checks
    assert pz.verdicts(snapshot, "s3_bucket_versioning") == {"evidence-bucket": "PASS"}
    assert pz.verdicts(snapshot, "s3_keep_forever_no_expiry") == {"evidence-bucket": "PASS"}


# --- lifecycle ---------------------------------------------------------------------------


def test_undelete_window(pz: Any) -> None:
    s3 = pz.client("s3")
    versioned(s3, "window-ok")
    lifecycle(s3, "window-ok", NoncurrentVersionExpiration={"NoncurrentDays": 30})
    versioned(s3, "window-short")
    lifecycle(s3, "window-short", NoncurrentVersionExpiration={"NoncurrentDays": 7})
    versioned(s3, "window-none")
    versioned(s3, "evidence-bucket")  # keep-forever: not this check's business
    s3.create_bucket(Bucket="not-versioned")  # nothing noncurrent to expire
    got = pz.results(pz.snap(KEEP, services=S3), "s3_bucket_undelete_window")
    assert {r.resource_key: r.status for r in got} == {
        "window-ok": "PASS",
        "window-short": "FAIL",
        "window-none": "FAIL",
    }
    short = next(r for r in got if r.resource_key == "window-short")
    assert "7 days" in short.message and "30-day" in short.message


def test_undelete_window_follows_the_setting(pz: Any) -> None:
    s3 = pz.client("s3")
    versioned(s3, "window-short")
    lifecycle(s3, "window-short", NoncurrentVersionExpiration={"NoncurrentDays": 7})
    config = PostureConfig(undelete_window_days=7)
    assert pz.verdicts(pz.snap(config, services=S3), "s3_bucket_undelete_window") == {
        "window-short": "PASS"
    }


def test_keep_forever_buckets_must_not_expire(pz: Any) -> None:
    s3 = pz.client("s3")
    versioned(s3, "evidence-bucket")
    lifecycle(s3, "evidence-bucket", Expiration={"Days": 365})
    versioned(s3, "kept-bucket")
    s3.put_bucket_tagging(
        Bucket="kept-bucket",
        Tagging={"TagSet": [{"Key": "trailguard:keep-forever", "Value": "TRUE"}]},
    )
    versioned(s3, "ordinary-bucket")
    lifecycle(s3, "ordinary-bucket", Expiration={"Days": 1})  # not keep-forever: fine here
    got = pz.results(pz.snap(KEEP, services=S3), "s3_keep_forever_no_expiry")
    assert {r.resource_key: r.status for r in got} == {
        "evidence-bucket": "FAIL",
        "kept-bucket": "PASS",
    }
    assert "r1" in next(r for r in got if r.status == "FAIL").message


# --- Block Public Access -------------------------------------------------------------


def test_account_block_public_access(pz: Any) -> None:
    s3control = pz.client("s3control")
    s3control.put_public_access_block(
        AccountId=pz.ACCOUNT,
        PublicAccessBlockConfiguration={**ALL_ON, "RestrictPublicBuckets": False},
    )
    (r,) = pz.results(pz.snap(services=S3), "s3_account_public_access_block")
    assert (r.status, r.region, r.resource_type) == ("FAIL", "global", "Account")
    assert "RestrictPublicBuckets" in r.message and "BlockPublicAcls" not in r.message
    s3control.put_public_access_block(AccountId=pz.ACCOUNT, PublicAccessBlockConfiguration=ALL_ON)
    assert pz.verdicts(pz.snap(services=S3), "s3_account_public_access_block") == {
        pz.ACCOUNT: "PASS"
    }


def test_bucket_block_public_access(pz: Any) -> None:
    s3 = pz.client("s3")
    s3.create_bucket(Bucket="blocked-bucket")
    s3.put_public_access_block(Bucket="blocked-bucket", PublicAccessBlockConfiguration=ALL_ON)
    s3.create_bucket(Bucket="open-bucket")
    s3.create_bucket(Bucket="half-bucket")
    s3.put_public_access_block(
        Bucket="half-bucket", PublicAccessBlockConfiguration={**ALL_ON, "BlockPublicPolicy": False}
    )
    assert pz.verdicts(pz.snap(services=S3), "s3_bucket_public_access_block") == {
        "blocked-bucket": "PASS",
        "open-bucket": "FAIL",
        "half-bucket": "FAIL",
    }
    # the account-level block covers every bucket
    pz.client("s3control").put_public_access_block(
        AccountId=pz.ACCOUNT, PublicAccessBlockConfiguration=ALL_ON
    )
    assert set(pz.verdicts(pz.snap(services=S3), "s3_bucket_public_access_block").values()) == {
        "PASS"
    }


# --- public grants -------------------------------------------------------------------


def test_public_policy_and_acl(pz: Any) -> None:
    s3 = pz.client("s3")
    s3.create_bucket(Bucket="policy-bucket")
    s3.put_bucket_policy(Bucket="policy-bucket", Policy=public_policy("policy-bucket"))
    s3.create_bucket(Bucket="acl-bucket")
    s3.put_bucket_acl(Bucket="acl-bucket", ACL="public-read")
    s3.create_bucket(Bucket="authenticated-bucket")
    s3.put_bucket_acl(Bucket="authenticated-bucket", ACL="authenticated-read")
    s3.create_bucket(Bucket="vpce-bucket")  # "*" narrowed to one VPC endpoint
    s3.put_bucket_policy(
        Bucket="vpce-bucket",
        Policy=public_policy("vpce-bucket", {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}),
    )
    s3.create_bucket(Bucket="private-bucket")
    got = pz.results(pz.snap(services=S3), "s3_bucket_public_grant")
    assert {r.resource_key: r.status for r in got} == {
        "policy-bucket": "FAIL",
        "acl-bucket": "FAIL",
        "authenticated-bucket": "FAIL",
        "vpce-bucket": "PASS",
        "private-bucket": "PASS",
    }
    msg = {r.resource_key: r.message for r in got}
    assert "Everyone" in msg["policy-bucket"]
    assert "AllUsers" in msg["acl-bucket"]
    assert "AuthenticatedUsers" in msg["authenticated-bucket"]


def test_block_public_access_neutralises_public_grants(pz: Any) -> None:
    s3 = pz.client("s3")
    s3.create_bucket(Bucket="policy-bucket")
    s3.put_bucket_policy(Bucket="policy-bucket", Policy=public_policy("policy-bucket"))
    s3.put_bucket_acl(Bucket="policy-bucket", ACL="public-read")
    s3.put_public_access_block(
        Bucket="policy-bucket",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )
    assert pz.verdicts(pz.snap(services=S3), "s3_bucket_public_grant") == {"policy-bucket": "PASS"}


# --- encryption and logging ------------------------------------------------------------


def test_default_encryption(pz: Any) -> None:
    s3 = pz.client("s3")
    s3.create_bucket(Bucket="plain-bucket")
    s3.create_bucket(Bucket="kms-bucket")
    s3.put_bucket_encryption(
        Bucket="kms-bucket",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    got = pz.results(pz.snap(services=S3), "s3_bucket_default_encryption")
    assert {r.resource_key: r.status for r in got} == {
        "plain-bucket": "FAIL",
        "kms-bucket": "PASS",
    }
    assert "aws:kms" in next(r for r in got if r.status == "PASS").message


def test_access_logging(pz: Any) -> None:
    s3 = pz.client("s3")
    s3.create_bucket(Bucket="access-logs")
    s3.put_bucket_acl(Bucket="access-logs", ACL="log-delivery-write")
    s3.create_bucket(Bucket="logged-bucket")
    s3.put_bucket_logging(
        Bucket="logged-bucket",
        BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": "access-logs", "TargetPrefix": "logged-bucket/"}
        },
    )
    assert pz.verdicts(pz.snap(services=S3), "s3_bucket_access_logging") == {
        "logged-bucket": "PASS",
        "access-logs": "FAIL",
    }
