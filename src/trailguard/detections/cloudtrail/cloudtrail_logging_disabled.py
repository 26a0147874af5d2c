"""Stealth:IAMUser/CloudTrailLoggingDisabled - a trail was stopped, deleted or weakened."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from trailguard.detect.detection import DetectionMeta, EventDetection

#: UpdateTrail parameters that redirect or narrow what the trail records
_WEAKENING_FALSE = ("isMultiRegionTrail", "includeGlobalServiceEvents", "enableLogFileValidation")
_REDIRECTING = ("s3BucketName", "s3KeyPrefix", "cloudWatchLogsLogGroupArn", "kmsKeyId")


@dataclass(frozen=True, slots=True)
class CloudTrailLoggingDisabledDetection(EventDetection):
    def refine(self, row: Mapping[str, Any]) -> bool:
        if row.get("eventName") != "UpdateTrail":
            return True
        params = _params(row)
        if params is None:
            return True  # unreadable parameters: report rather than hide
        if any(params.get(k) is False for k in _WEAKENING_FALSE):
            return True
        return any(k in params for k in _REDIRECTING)

    def values(self, row: Mapping[str, Any]) -> dict[str, Any]:
        params = _params(row) or {}
        return {"trail": params.get("name") or "?"}


def _params(row: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        params = msgspec.json.decode(row.get("requestParameters") or "{}")
    except msgspec.DecodeError:
        return None
    return params if isinstance(params, dict) else None


DETECTION = CloudTrailLoggingDisabledDetection(
    meta=DetectionMeta(
        id="cloudtrail_logging_disabled",
        finding_type="Stealth:IAMUser/CloudTrailLoggingDisabled",
        severity=2.0,
        title="AWS CloudTrail trail {trail} was disabled.",
        description=(
            "{principal} called {api} on trail {trail} in {region} from {ip}: CloudTrail "
            "logging was stopped, the trail deleted, or its destination or coverage "
            "changed. Attackers do this to cover their tracks."
        ),
        log_type="cloudtrail",
        resource_type="AccessKey",
        mitre=("T1562.008",),
        false_positives=(
            "Planned trail changes by administrators (e.g. moving logs to a new bucket).",
        ),
    ),
    where=(
        "\"eventSource\" = 'cloudtrail.amazonaws.com' "
        "AND \"eventName\" IN ('StopLogging', 'DeleteTrail', 'UpdateTrail') "
        'AND "errorCode" IS NULL'
    ),
)
