"""CloudTrail: a multi-region trail logging management events, log-file validation, a
protected log bucket, and the KMS and CloudWatch Logs settings of each trail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Final

from trailguard.posture.checks.base import (
    GLOBAL,
    HIGH,
    LOW,
    MEDIUM,
    Check,
    CheckMeta,
    CheckResult,
    Status,
    account_resource,
)
from trailguard.posture.checks.s3 import public_exposure
from trailguard.posture.model import AccountSnapshot, Trail, Unavailable


def trail_resource(t: Trail) -> dict[str, Any]:
    return {
        "resourceType": "CloudTrailTrail",
        "cloudTrailDetails": {
            "name": t.name,
            "arn": t.arn,
            "homeRegion": t.home_region,
            "isMultiRegionTrail": t.multi_region,
            "s3BucketName": t.bucket,
        },
    }


def own_trail(t: Trail, snapshot: AccountSnapshot) -> bool:
    """Whether the trail belongs to this account (an organization trail seen from a member
    account belongs to the management account, which is where it can be changed)."""
    parts = t.arn.split(":")
    return len(parts) > 4 and parts[4] == snapshot.account_id


class _TrailCheck(Check):
    """A check of each trail this account owns."""

    def evaluate(self, snapshot: AccountSnapshot) -> list[CheckResult]:
        if isinstance(snapshot.trails, Unavailable):
            return [self.skip(snapshot, snapshot.trails)]
        out: list[CheckResult] = []
        for t in snapshot.trails:
            if own_trail(t, snapshot):
                out.extend(self.trail(snapshot, t))
        return out

    def trail(self, snapshot: AccountSnapshot, t: Trail) -> Iterator[CheckResult]:
        raise NotImplementedError

    def on(self, snapshot: AccountSnapshot, t: Trail, status: Status, message: str) -> CheckResult:
        return self.result(
            snapshot, status, t.home_region, "CloudTrailTrail", t.arn, trail_resource(t), message
        )


class CloudTrailMultiRegionCheck(Check):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="cloudtrail_multi_region_logging",
        finding_type="Policy:CloudTrail/NoMultiRegionTrail",
        severity=HIGH,
        service="CloudTrail",
        title="At least one multi-region trail is logging read and write management events",
        risk="Activity in a region without a trail, or API calls a trail does not record, "
        "leave no evidence; trailguard's own CloudTrail detections see nothing there.",
        remediation_cli="aws cloudtrail create-trail --name TRAIL --s3-bucket-name BUCKET "
        "--is-multi-region-trail --enable-log-file-validation && aws cloudtrail "
        "start-logging --name TRAIL",
        remediation_console="CloudTrail > Trails > Create trail (applies to all regions), "
        "management events Read and Write; or open an existing trail and enable it for all "
        "regions and start logging.",
        needs=frozenset({"cloudtrail"}),
    )

    def evaluate(self, snapshot: AccountSnapshot) -> list[CheckResult]:
        if isinstance(snapshot.trails, Unavailable):
            return [self.skip(snapshot, snapshot.trails)]
        acct = account_resource(snapshot.account_id)
        key = snapshot.account_id
        unknown: list[Unavailable] = []
        for t in snapshot.trails:
            if not t.multi_region:
                continue
            states = (t.logging, t.management_events)
            gaps = [s for s in states if isinstance(s, Unavailable)]
            if gaps:
                unknown.extend(gaps)
            elif all(states):
                msg = f"multi-region trail {t.name} logs management events"
                return [self.result(snapshot, "PASS", GLOBAL, "Account", key, acct, msg)]
        if unknown:
            return [self.skip(snapshot, unknown[0])]
        multi = [t.name for t in snapshot.trails if t.multi_region]
        msg = (
            "no multi-region trail"
            if not multi
            else "no multi-region trail is logging all management events ("
            + ", ".join(multi)
            + ": stopped or filtered)"
        )
        return [self.result(snapshot, "FAIL", GLOBAL, "Account", key, acct, msg)]


class CloudTrailLogFileValidationCheck(_TrailCheck):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="cloudtrail_log_file_validation",
        finding_type="Policy:CloudTrail/LogFileValidationDisabled",
        severity=MEDIUM,
        service="CloudTrail",
        title="Trails have log-file validation (digest files) enabled",
        risk="Without digest files, a log file edited or deleted after delivery cannot be "
        "detected (trailguard verify checks the digest chain).",
        remediation_cli="aws cloudtrail update-trail --name TRAIL --enable-log-file-validation",
        remediation_console="CloudTrail > Trails > TRAIL > General details > Edit > "
        "Log file validation: Enabled > Save changes.",
        needs=frozenset({"cloudtrail"}),
    )

    def trail(self, snapshot: AccountSnapshot, t: Trail) -> Iterator[CheckResult]:
        if t.log_file_validation:
            yield self.on(snapshot, t, "PASS", f"{t.name}: log-file validation is enabled")
        else:
            yield self.on(snapshot, t, "FAIL", f"{t.name}: log-file validation is disabled")


class CloudTrailBucketProtectedCheck(_TrailCheck):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="cloudtrail_bucket_protected",
        finding_type="Policy:CloudTrail/TrailBucketUnprotected",
        severity=HIGH,
        service="CloudTrail",
        title="Each trail's bucket is versioned and not public (ideally MFA delete, or in "
        "another account)",
        risk="An intruder who can delete or overwrite the trail's log files erases the "
        "evidence; a public trail bucket discloses the account's activity.",
        remediation_cli="aws s3api put-bucket-versioning --bucket BUCKET "
        "--versioning-configuration Status=Enabled; remove public grants (see "
        "s3_bucket_public_grant); better, deliver to a bucket in a separate log-archive "
        "account.",
        remediation_console="S3 > Buckets > BUCKET > Properties > Bucket Versioning > Enable; "
        "Permissions > Block all public access; or create the trail with a bucket in a "
        "log-archive account.",
        needs=frozenset({"cloudtrail", "s3", "s3control"}),
    )

    def trail(self, snapshot: AccountSnapshot, t: Trail) -> Iterator[CheckResult]:
        if isinstance(snapshot.buckets, Unavailable):
            yield self.skip(
                snapshot,
                snapshot.buckets,
                t.home_region,
                "CloudTrailTrail",
                t.arn,
                trail_resource(t),
            )
            return
        if not t.bucket:
            yield self.on(snapshot, t, "FAIL", f"{t.name}: no S3 bucket")
            return
        b = snapshot.bucket(t.bucket)
        if b is None:
            yield self.on(snapshot, t, "PASS", f"{t.name}: bucket {t.bucket} is in another account")
            return
        exposure = public_exposure(b, snapshot)
        gap = next(
            (v for v in (b.versioning, exposure, b.mfa_delete) if isinstance(v, Unavailable)),
            None,
        )
        if gap is not None or isinstance(exposure, Unavailable):
            missing = exposure if isinstance(exposure, Unavailable) else gap
            assert missing is not None
            yield self.skip(
                snapshot, missing, t.home_region, "CloudTrailTrail", t.arn, trail_resource(t)
            )
            return
        problems = []
        if b.versioning != "Enabled":
            problems.append("not versioned")
        if exposure:
            problems.append("public (" + "; ".join(exposure) + ")")
        if problems:
            yield self.on(
                snapshot, t, "FAIL", f"{t.name}: bucket {b.name} is " + ", ".join(problems)
            )
        elif not b.mfa_delete:
            yield self.on(
                snapshot,
                t,
                "INFO",
                f"{t.name}: bucket {b.name} is versioned and not public, but in this "
                "account and without MFA delete",
            )
        else:
            yield self.on(
                snapshot, t, "PASS", f"{t.name}: bucket {b.name} is versioned, private, MFA delete"
            )


class CloudTrailKmsEncryptionCheck(_TrailCheck):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="cloudtrail_kms_encryption",
        finding_type="Policy:CloudTrail/TrailNotEncryptedWithKMS",
        severity=LOW,
        service="CloudTrail",
        title="Trails encrypt log files with a KMS key",
        risk="With SSE-S3 only, anyone who can read the bucket can read the logs; a KMS key "
        "adds a second permission and its own audit trail.",
        remediation_cli="aws cloudtrail update-trail --name TRAIL --kms-key-id KEY_ARN",
        remediation_console="CloudTrail > Trails > TRAIL > General details > Edit > Log file "
        "SSE-KMS encryption: Enabled > choose the key > Save changes.",
        needs=frozenset({"cloudtrail"}),
    )

    def trail(self, snapshot: AccountSnapshot, t: Trail) -> Iterator[CheckResult]:
        if t.kms_key_id:
            yield self.on(snapshot, t, "PASS", f"{t.name}: encrypted with {t.kms_key_id}")
        else:
            yield self.on(snapshot, t, "FAIL", f"{t.name}: not encrypted with a KMS key")


class CloudTrailCloudWatchLogsCheck(_TrailCheck):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="cloudtrail_cloudwatch_logs",
        finding_type="Policy:CloudTrail/TrailNotSentToCloudWatchLogs",
        severity=LOW,
        service="CloudTrail",
        title="Trails also deliver to CloudWatch Logs",
        risk="Without CloudWatch Logs delivery there is no near-real-time copy for metric "
        "filters and alarms, and no second copy of the events.",
        remediation_cli="aws cloudtrail update-trail --name TRAIL "
        "--cloud-watch-logs-log-group-arn LOG_GROUP_ARN --cloud-watch-logs-role-arn ROLE_ARN",
        remediation_console="CloudTrail > Trails > TRAIL > CloudWatch Logs > Edit > Enabled > "
        "choose the log group and role > Save changes.",
        needs=frozenset({"cloudtrail"}),
    )

    def trail(self, snapshot: AccountSnapshot, t: Trail) -> Iterator[CheckResult]:
        if t.cloudwatch_logs_group:
            yield self.on(snapshot, t, "PASS", f"{t.name}: delivers to {t.cloudwatch_logs_group}")
        else:
            yield self.on(snapshot, t, "FAIL", f"{t.name}: no CloudWatch Logs delivery")


CHECKS: Final[tuple[Check, ...]] = (
    CloudTrailMultiRegionCheck(),
    CloudTrailLogFileValidationCheck(),
    CloudTrailBucketProtectedCheck(),
    CloudTrailKmsEncryptionCheck(),
    CloudTrailCloudWatchLogsCheck(),
)
