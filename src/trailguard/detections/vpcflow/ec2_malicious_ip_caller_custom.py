"""UnauthorizedAccess:EC2/MaliciousIPCaller.Custom.

Traffic to or from an address on one of your threat lists (category custom).
"""

from __future__ import annotations

from trailguard.detect.detection import DetectionMeta, EventDetection

DETECTION = EventDetection(
    meta=DetectionMeta(
        id="ec2_malicious_ip_caller_custom",
        finding_type="UnauthorizedAccess:EC2/MaliciousIPCaller.Custom",
        severity=5.0,
        title=("{instance} is communicating with {remote_ip}, on threat list {threat_list}."),
        description=(
            "{instance} ({local_ip}) exchanged traffic with {remote_ip}, which is on your threat "
            "list {threat_list}."
        ),
        log_type="vpcflow",
        resource_type="Instance",
        mitre=("T1071",),
        false_positives=("An address on a list that is stale or too broad.",),
        references=(
            "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-ec2.html",
        ),
    ),
    where='"srcaddr__threat_custom" IS NOT NULL OR "dstaddr__threat_custom" IS NOT NULL',
)
