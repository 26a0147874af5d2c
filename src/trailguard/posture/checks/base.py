"""What a posture check is: metadata (severity, risk, remediation) and a pure ``evaluate``.

A check reads an :class:`~trailguard.posture.model.AccountSnapshot` and returns one
:class:`CheckResult` per resource it applies to: PASS, FAIL, INFO (worth knowing, not a
failure) or SKIPPED (what it needed could not be read).  It calls no API and reads no
clock: the snapshot's ``taken_at`` is its time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

from trailguard.posture.model import AccountSnapshot, Unavailable

Status = Literal["PASS", "FAIL", "INFO", "SKIPPED"]
STATUSES: Final[tuple[Status, ...]] = ("FAIL", "SKIPPED", "INFO", "PASS")

# one number per GuardDuty label (Low 1-3.9, Medium 4-6.9, High 7-8.9, Critical 9-10)
LOW: Final = 2.0
MEDIUM: Final = 5.0
HIGH: Final = 8.0
CRITICAL: Final = 9.0

#: the parts of a snapshot, named by the service they are read from
SERVICES: Final = frozenset({"s3", "s3control", "cloudtrail", "ec2", "rds", "route53resolver"})

#: the region of account-wide results (S3 account settings, "is there a trail")
GLOBAL: Final = "global"


@dataclass(frozen=True, slots=True)
class CheckMeta:
    """A check's description: the finding it raises and how to fix what it finds."""

    id: str
    finding_type: str
    severity: float
    service: str
    title: str
    risk: str
    remediation_cli: str
    remediation_console: str
    #: the services whose part of the snapshot the check reads (the others need not be read)
    needs: frozenset[str] = SERVICES


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's verdict on one resource."""

    check_id: str
    status: Status
    account_id: str
    region: str
    resource_type: str
    resource_key: str
    resource: Mapping[str, Any]
    message: str
    severity: float
    finding_type: str
    skipped: Unavailable | None = None


class Check(ABC):
    """One posture check.  Subclasses set ``meta`` and implement :meth:`evaluate`."""

    meta: ClassVar[CheckMeta]

    @abstractmethod
    def evaluate(self, snapshot: AccountSnapshot) -> list[CheckResult]:
        """PASS/FAIL/INFO/SKIPPED per resource; no I/O, no clock."""

    def result(
        self,
        snapshot: AccountSnapshot,
        status: Status,
        region: str,
        resource_type: str,
        resource_key: str,
        resource: Mapping[str, Any],
        message: str,
        *,
        severity: float | None = None,
        skipped: Unavailable | None = None,
    ) -> CheckResult:
        return CheckResult(
            check_id=self.meta.id,
            status=status,
            account_id=snapshot.account_id,
            region=region,
            resource_type=resource_type,
            resource_key=resource_key,
            resource=resource,
            message=message,
            severity=self.meta.severity if severity is None else severity,
            finding_type=self.meta.finding_type,
            skipped=skipped,
        )

    def skip(
        self,
        snapshot: AccountSnapshot,
        gap: Unavailable,
        region: str = GLOBAL,
        resource_type: str = "Account",
        resource_key: str | None = None,
        resource: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        """A SKIPPED result: ``gap`` says which API did not answer and why."""
        key = resource_key if resource_key is not None else snapshot.account_id
        return self.result(
            snapshot,
            "SKIPPED",
            region,
            resource_type,
            key,
            resource if resource is not None else account_resource(snapshot.account_id),
            f"not checked: {gap}",
            skipped=gap,
        )


def tag_list(tags: Mapping[str, str] | Unavailable) -> list[dict[str, str]]:
    """GuardDuty's tag shape."""
    if isinstance(tags, Unavailable):
        return []
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def account_resource(account_id: str) -> dict[str, Any]:
    return {"resourceType": "Account", "accountDetails": {"accountId": account_id}}
