"""CloudTrail checks against trails made on the moto server: PASS and FAIL per check."""

from __future__ import annotations

from typing import Any

CT = frozenset({"cloudtrail", "s3", "s3control"})
ARN = "arn:aws:cloudtrail:us-east-1:123456789012:trail/"


def trail(pz: Any, name: str, bucket: str, start: bool = True, **kw: Any) -> None:
    s3 = pz.client("s3")
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)
    ct = pz.client("cloudtrail")
    ct.create_trail(Name=name, S3BucketName=bucket, **kw)
    if start:
        ct.start_logging(Name=name)


def test_multi_region_trail_pass(pz: Any) -> None:
    trail(pz, "org-wide", "trail-logs", IsMultiRegionTrail=True)
    (r,) = pz.results(pz.snap(services=CT), "cloudtrail_multi_region_logging")
    assert (r.status, r.region, r.resource_key) == ("PASS", "global", pz.ACCOUNT)
    assert "org-wide" in r.message


def test_multi_region_trail_fail_when_single_region_stopped_or_write_only(pz: Any) -> None:
    trail(pz, "one-region", "trail-logs")
    trail(pz, "stopped", "trail-logs", start=False, IsMultiRegionTrail=True)
    trail(pz, "writes-only", "trail-logs", IsMultiRegionTrail=True)
    pz.client("cloudtrail").put_event_selectors(
        TrailName="writes-only",
        EventSelectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}],
    )
    (r,) = pz.results(pz.snap(services=CT), "cloudtrail_multi_region_logging")
    assert r.status == "FAIL"
    assert "stopped" in r.message and "writes-only" in r.message


def test_multi_region_trail_seen_from_another_region(pz: Any) -> None:
    trail(pz, "org-wide", "trail-logs", IsMultiRegionTrail=True)
    snapshot = pz.snap(services=CT, regions=("eu-west-1",))
    assert pz.verdicts(snapshot, "cloudtrail_multi_region_logging") == {pz.ACCOUNT: "PASS"}


def test_log_file_validation(pz: Any) -> None:
    trail(pz, "validated", "trail-logs", EnableLogFileValidation=True)
    trail(pz, "unvalidated", "trail-logs")
    assert pz.verdicts(pz.snap(services=CT), "cloudtrail_log_file_validation") == {
        ARN + "validated": "PASS",
        ARN + "unvalidated": "FAIL",
    }


def test_trail_bucket_protected(pz: Any) -> None:
    s3 = pz.client("s3")
    s3.create_bucket(Bucket="versioned-logs")
    s3.put_bucket_versioning(Bucket="versioned-logs", VersioningConfiguration={"Status": "Enabled"})
    trail(pz, "good", "versioned-logs")
    trail(pz, "unversioned", "plain-logs")
    s3.create_bucket(Bucket="public-logs")
    s3.put_bucket_versioning(Bucket="public-logs", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_acl(Bucket="public-logs", ACL="public-read")
    trail(pz, "public", "public-logs")
    got = pz.results(pz.snap(services=CT), "cloudtrail_bucket_protected")
    by = {r.resource_key.rsplit("/", 1)[1]: r for r in got}
    # versioned and private, but MFA delete off and the bucket in the same account
    assert by["good"].status == "INFO"
    assert by["unversioned"].status == "FAIL" and "not versioned" in by["unversioned"].message
    assert by["public"].status == "FAIL" and "AllUsers" in by["public"].message
    assert by["good"].resource["cloudTrailDetails"]["s3BucketName"] == "versioned-logs"


def test_trail_bucket_in_another_account_passes(pz: Any) -> None:
    trail(pz, "central", "trail-logs")
    pz.client("s3").delete_bucket(Bucket="trail-logs")  # now only another account has it
    assert pz.verdicts(pz.snap(services=CT), "cloudtrail_bucket_protected") == {
        ARN + "central": "PASS"
    }


def test_kms_and_cloudwatch_logs(pz: Any) -> None:
    logs = pz.client("logs")
    logs.create_log_group(logGroupName="trail")
    group = logs.describe_log_groups()["logGroups"][0]["arn"]
    trail(
        pz,
        "full",
        "trail-logs",
        KmsKeyId="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        CloudWatchLogsLogGroupArn=group,
        CloudWatchLogsRoleArn="arn:aws:iam::123456789012:role/trail-to-logs",
    )
    trail(pz, "bare", "trail-logs")
    snapshot = pz.snap(services=CT)
    expected = {ARN + "full": "PASS", ARN + "bare": "FAIL"}
    assert pz.verdicts(snapshot, "cloudtrail_kms_encryption") == expected
    assert pz.verdicts(snapshot, "cloudtrail_cloudwatch_logs") == expected
