"""Flagged certificates as findings, for ``trailguard certs --record``.

One finding per certificate and flag: the resource is the certificate (its SHA-256), the
occurrence key is the flag and the certificate, so checking the same bundle every day
keeps one finding whose ``eventLastSeen`` is the latest check, rather than counting up.
Certificates belong to no account or region: findings carry ``unknown`` and ``global``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from trailguard.detect.hit import Hit
from trailguard.posture.certs import CertReport, Flag

FEATURE: Final = "Posture"
ACCOUNT: Final = "unknown"
REGION: Final = "global"
#: days left under which an expiring certificate is High rather than Medium (as the RDS
#: certificate posture check grades its CAs)
HIGH_WITHIN_DAYS: Final = 30


@dataclass(frozen=True, slots=True)
class CertFlagMeta:
    """What a flag becomes as a finding."""

    flag: Flag
    finding_type: str
    severity: float
    title: str


FLAG_META: Final[dict[Flag, CertFlagMeta]] = {
    m.flag: m
    for m in (
        CertFlagMeta(
            Flag.EXPIRED, "Policy:Certificate/Expired", 9.0, "Certificate {cn} expired on {date}"
        ),
        CertFlagMeta(
            Flag.NOT_YET_VALID,
            "Policy:Certificate/NotYetValid",
            5.0,
            "Certificate {cn} is not valid before {start}",
        ),
        CertFlagMeta(
            Flag.EXPIRING,
            "Policy:Certificate/Expiring",
            5.0,
            "Certificate {cn} expires on {date} ({days} days)",
        ),
        CertFlagMeta(
            Flag.WEAK_KEY,
            "Policy:Certificate/WeakKey",
            7.0,
            "Certificate {cn} has a weak {key} key",
        ),
        CertFlagMeta(
            Flag.SHA1,
            "Policy:Certificate/SHA1Signature",
            5.0,
            "Certificate {cn} is signed with SHA-1",
        ),
        CertFlagMeta(
            Flag.MD5, "Policy:Certificate/MD5Signature", 7.0, "Certificate {cn} is signed with MD5"
        ),
        CertFlagMeta(
            Flag.ISSUER_NOT_IN_BUNDLE,
            "Policy:Certificate/IssuerNotInBundle",
            2.0,
            "The issuer of certificate {cn} is not in its bundle",
        ),
    )
}


def severity(report: CertReport, flag: Flag) -> float:
    if flag is Flag.EXPIRING and report.days_left < HIGH_WITHIN_DAYS:
        return 7.0
    return FLAG_META[flag].severity


def certificate_hits(reports: list[CertReport], now: datetime) -> list[Hit]:
    """One hit per flag of each report, seen at ``now``."""
    return [_hit(r, flag, now) for r in reports for flag in r.flags]


def _hit(report: CertReport, flag: Flag, now: datetime) -> Hit:
    meta = FLAG_META[flag]
    title = meta.title.format(
        cn=report.subject_cn,
        date=report.not_after.date().isoformat(),
        start=report.not_before.date().isoformat(),
        days=report.days_left,
        key=report.key,
    )
    details = report.as_dict()
    return Hit(
        detection_id=f"certs_{flag.lower()}",
        finding_type=meta.finding_type,
        severity=severity(report, flag),
        title=title,
        description=(
            f"{title}. Subject {report.subject}; issuer {report.issuer}; serial {report.serial}; "
            f"valid {details['not_before']} to {details['not_after']}; "
            f"SHA-256 {report.sha256}; found in {report.bundle}."
        ),
        account_id=ACCOUNT,
        region=REGION,
        resource_type="Certificate",
        resource_key=report.sha256,
        actor_key="",
        resource={
            "resourceType": "Certificate",
            "certificateDetails": {
                "subject": report.subject,
                "issuer": report.issuer,
                "serialNumber": report.serial,
                "notBefore": details["not_before"],
                "notAfter": details["not_after"],
                "sha256": report.sha256,
                "key": report.key,
                "signatureAlgorithm": report.signature_algorithm,
            },
        },
        action={"actionType": "CERTIFICATE_CHECK", "certificateCheckAction": {"flag": str(flag)}},
        first_seen=now,
        last_seen=now,
        event_key=f"{flag}:{report.sha256}",
        object=report.source,
        position=report.position,
        feature=FEATURE,
        additional_info={"bundle": report.bundle, "flags": [str(f) for f in report.flags]},
    )


__all__ = ["FLAG_META", "CertFlagMeta", "certificate_hits", "severity"]
