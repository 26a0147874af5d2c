"""Integrity failures as findings (``verify --record``), so the store keeps them beside the
detections' findings and ``trailguard findings`` lists them."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from trailguard.detect.hit import Hit
from trailguard.integrity.layout import Chain
from trailguard.integrity.results import FileResult, Reason, Report, SpanKind, SpanResult, Status

DETECTION_ID: Final = "cloudtrail_integrity"
HIGH: Final = 8.0
MEDIUM: Final = 5.0
LOG_TAMPERED: Final = "Stealth:IAMUser/CloudTrailLogTampered"
LOG_MISSING: Final = "Stealth:IAMUser/CloudTrailLogMissing"
LOG_UNVERIFIED: Final = "Stealth:IAMUser/CloudTrailLogUnverified"
DIGEST_TAMPERED: Final = "Stealth:IAMUser/CloudTrailDigestTampered"
DIGEST_MISSING: Final = "Stealth:IAMUser/CloudTrailDigestMissing"
LOGGING_GAP: Final = "Stealth:IAMUser/CloudTrailLoggingGap"

_TITLES: Final = {
    LOG_TAMPERED: "CloudTrail log file altered or injected in {trail}",
    LOG_MISSING: "CloudTrail log file deleted in {trail}",
    LOG_UNVERIFIED: "CloudTrail log file can no longer be verified in {trail}",
    DIGEST_TAMPERED: "CloudTrail digest file altered in {trail}",
    DIGEST_MISSING: "CloudTrail digest files missing in {trail}",
    LOGGING_GAP: "CloudTrail logging or validation was off in {trail}",
}


def _finding_type(r: FileResult) -> str | None:
    if r.status is Status.UNVERIFIED:
        return LOG_UNVERIFIED
    if r.status is Status.UNLISTED:
        return LOG_TAMPERED
    if r.status is not Status.INVALID:
        return None
    missing = r.reason is Reason.NOT_FOUND
    if r.kind == "digest":
        return DIGEST_MISSING if missing else DIGEST_TAMPERED
    return LOG_MISSING if missing else LOG_TAMPERED


def _hit(
    finding_type: str,
    chain: Chain | None,
    bucket: str,
    first: datetime,
    last: datetime,
    event_key: str,
    obj: str,
    position: str,
    description: str,
    severity: float = HIGH,
) -> Hit:
    trail = chain.arn if chain else "unknown trail"
    return Hit(
        detection_id=DETECTION_ID,
        finding_type=finding_type,
        severity=severity,
        title=_TITLES[finding_type].format(trail=trail),
        description=description,
        account_id=chain.account if chain else "unknown",
        region=chain.region if chain else "unknown",
        resource_type="S3Bucket",
        resource_key=trail,
        actor_key="",
        resource={
            "resourceType": "S3Bucket",
            "s3BucketDetails": [{"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}],
        },
        action={
            "actionType": "LOG_INTEGRITY",
            "logIntegrityAction": {"object": obj, "result": position, "trail": trail},
        },
        first_seen=first,
        last_seen=last,
        event_key=event_key,
        object=obj,
        position=position,
        feature="CloudTrail",
    )


def _span_hit(s: SpanResult, bucket: str) -> Hit:
    kind = DIGEST_MISSING if s.kind is SpanKind.DIGESTS_MISSING else LOGGING_GAP
    return _hit(
        kind,
        s.chain,
        bucket,
        s.start,
        s.end,
        f"span:{s.kind.value}:{s.chain.digest_dir}:{s.start.isoformat()}",
        s.chain.digest_dir,
        s.kind.value,
        s.line(),
        HIGH if kind == DIGEST_MISSING else MEDIUM,
    )


def integrity_hits(report: Report, now: datetime) -> list[Hit]:
    """One hit per failed file and per uncovered span (gaps are Medium, the rest High)."""
    hits: list[Hit] = []
    for r in report.files:
        kind = _finding_type(r)
        if kind is None:
            continue
        when = r.time or now
        hits.append(
            _hit(
                kind,
                r.chain,
                r.bucket,
                when,
                when,
                f"{r.kind}:{r.location}:{r.status.value}:{r.reason or ''}",
                r.location,
                r.message(),
                r.line(),
            )
        )
    bucket = next((r.bucket for r in report.files if r.bucket), "")
    hits.extend(_span_hit(s, bucket) for s in report.spans)
    return hits
