"""RDS certificates: each DB instance's CA and how long until that CA expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar, Final

from trailguard.posture.checks.base import CRITICAL, HIGH, MEDIUM, Check, CheckMeta, CheckResult
from trailguard.posture.checks.network import db_resource
from trailguard.posture.model import AccountSnapshot, Unavailable

HIGH_WITHIN: Final = timedelta(days=30)
MEDIUM_WITHIN: Final = timedelta(days=90)


def ca_grade(valid_till: datetime, now: datetime) -> float | None:
    """Severity of a CA that expires at ``valid_till`` seen at ``now``: expired Critical,
    under 30 days High, under 90 days Medium; None when it has 90 days or more."""
    if valid_till.tzinfo is None:
        valid_till = valid_till.replace(tzinfo=UTC)
    left = valid_till - now
    # RFC 5280: a certificate is valid through its notAfter instant (as `trailguard certs` reads it)
    if left < timedelta(0):
        return CRITICAL
    if left < HIGH_WITHIN:
        return HIGH
    if left < MEDIUM_WITHIN:
        return MEDIUM
    return None


class RdsCaCertificateExpiryCheck(Check):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="rds_ca_certificate_expiry",
        finding_type="Policy:RDS/CACertificateExpiring",
        severity=CRITICAL,
        service="RDS",
        title="Each DB instance's CA certificate is valid for 90 days or more (graded: expired "
        "Critical, under 30 days High, under 90 days Medium)",
        risk="When the CA expires, clients that verify the server certificate (as they "
        "should) can no longer connect; clients that do not verify it are open to "
        "impersonation.",
        remediation_cli="aws rds modify-db-instance --db-instance-identifier DB "
        "--ca-certificate-identifier rds-ca-rsa2048-g1 --apply-immediately  (update the "
        "clients' trust store with the new CA bundle first)",
        remediation_console="RDS > Databases > DB > Modify > Connectivity > Certificate "
        "authority: choose a current CA > Continue > Apply immediately (or in the next "
        "maintenance window).",
        needs=frozenset({"rds"}),
    )

    def evaluate(self, snapshot: AccountSnapshot) -> list[CheckResult]:
        out: list[CheckResult] = []
        now = snapshot.taken_at
        for region in snapshot.regions:
            if isinstance(region.db_instances, Unavailable):
                out.append(self.skip(snapshot, region.db_instances, region.region))
                continue
            for d in region.db_instances:
                resource = db_resource(d)
                key = d.arn or d.id
                if isinstance(region.ca_certificates, Unavailable):
                    out.append(
                        self.skip(
                            snapshot,
                            region.ca_certificates,
                            region.region,
                            "RDSDBInstance",
                            key,
                            resource,
                        )
                    )
                    continue
                ca = next((c for c in region.ca_certificates if c.id == d.ca_identifier), None)
                if ca is None:
                    gap = Unavailable(
                        "rds:DescribeCertificates",
                        "error",
                        f"CA {d.ca_identifier!r} of {d.id} is not among the region's CAs",
                    )
                    out.append(
                        self.skip(snapshot, gap, region.region, "RDSDBInstance", key, resource)
                    )
                    continue
                grade = ca_grade(ca.valid_till, now)
                till = ca.valid_till.date().isoformat()
                if grade is None:
                    msg = f"{d.id}: CA {ca.id} valid until {till}"
                    out.append(
                        self.result(
                            snapshot, "PASS", region.region, "RDSDBInstance", key, resource, msg
                        )
                    )
                    continue
                verb = "expired on" if grade == CRITICAL else "expires on"
                msg = f"{d.id}: CA {ca.id} {verb} {till}"
                out.append(
                    self.result(
                        snapshot,
                        "FAIL",
                        region.region,
                        "RDSDBInstance",
                        key,
                        resource,
                        msg,
                        severity=grade,
                    )
                )
        return out


CHECKS: Final[tuple[Check, ...]] = (RdsCaCertificateExpiryCheck(),)
