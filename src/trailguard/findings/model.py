"""The Finding model: GuardDuty's JSON shape, deterministic ids, severity labels.

A finding's id is derived from its aggregation key (type + account + region +
resource + actor), so a repeat of the same activity updates one finding -
``count`` and ``eventLastSeen`` grow - instead of adding another.  As in
GuardDuty, the details (action, remote address, ...) are those of the latest
occurrence.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

SCHEMA_VERSION: Final = "2.0"
SeverityLabel = Literal["Low", "Medium", "High", "Critical"]
SEVERITY_LABELS: Final[tuple[SeverityLabel, ...]] = ("Low", "Medium", "High", "Critical")
#: lower bound of each label's severity range (GuardDuty: 1-3.9, 4-6.9, 7-8.9, 9-10)
SEVERITY_FLOOR: Final[dict[str, float]] = {
    "low": 1.0,
    "medium": 4.0,
    "high": 7.0,
    "critical": 9.0,
}


def severity_label(severity: float) -> SeverityLabel:
    if severity >= 9.0:
        return "Critical"
    if severity >= 7.0:
        return "High"
    if severity >= 4.0:
        return "Medium"
    return "Low"


def severity_floor(label: str) -> float:
    """The lowest severity number of a label (case-insensitive); ValueError if unknown."""
    try:
        return SEVERITY_FLOOR[label.lower()]
    except KeyError:
        raise ValueError(
            f"unknown severity {label!r}; use one of low, medium, high, critical"
        ) from None


def finding_id(
    finding_type: str, account_id: str, region: str, resource_key: str, actor_key: str
) -> str:
    """32 hex characters (GuardDuty's id length), stable for one aggregation key."""
    # JSON escapes every part, so no two different keys can join to the same text
    key = json.dumps([finding_type, account_id, region, resource_key, actor_key])
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def iso(ms: int) -> str:
    """GuardDuty's timestamp form, from epoch milliseconds."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(dt: datetime) -> int:
    """Epoch milliseconds, exactly (no float rounding)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def build_finding(
    *,
    fid: str,
    latest: dict[str, Any],
    count: int,
    first_ms: int,
    last_ms: int,
    created_ms: int,
    updated_ms: int,
    archived: bool,
    evidence: dict[str, Any],
) -> dict[str, Any]:
    """The finding's JSON, from its latest occurrence (``latest``: a stored hit) and tallies."""
    account = latest["account_id"]
    region = latest["region"]
    service: dict[str, Any] = {
        "serviceName": "trailguard",
        "detectorId": "trailguard",
        "featureName": latest["feature"],
        "action": latest["action"],
        "resourceRole": latest["resource_role"],
        "archived": archived,
        "count": count,
        "eventFirstSeen": iso(first_ms),
        "eventLastSeen": iso(last_ms),
        "additionalInfo": {"value": latest.get("additional_info") or {}, "type": "default"},
        "evidence": evidence,
    }
    return {
        "schemaVersion": SCHEMA_VERSION,
        "id": fid,
        "arn": f"arn:aws:trailguard:{region}:{account}:detector/trailguard/finding/{fid}",
        "accountId": account,
        "region": region,
        "partition": "aws",
        "type": latest["finding_type"],
        "title": latest["title"],
        "description": latest["description"],
        "severity": latest["severity"],
        "severityLabel": severity_label(latest["severity"]),
        "confidence": latest.get("confidence", 8.0),
        "createdAt": iso(created_ms),
        "updatedAt": iso(updated_ms),
        "resource": latest["resource"],
        "service": service,
        "detection": {"id": latest["detection_id"]},
    }
