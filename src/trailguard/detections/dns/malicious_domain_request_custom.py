"""Impact:EC2/MaliciousDomainRequest.Custom.

A DNS query for a domain on one of your threat lists (category custom).
"""

from __future__ import annotations

from trailguard.detect.detection import DetectionMeta, EventDetection

DETECTION = EventDetection(
    meta=DetectionMeta(
        id="malicious_domain_request_custom",
        finding_type="Impact:EC2/MaliciousDomainRequest.Custom",
        severity=5.0,
        title=("{instance} queried {domain}, on threat list {query_name__threat_custom}."),
        description=(
            "{instance} queried {domain}, which is on your threat list {query_name__threat_custom}."
        ),
        log_type="dns",
        resource_type="Instance",
        mitre=("T1071.004",),
        false_positives=("A domain on a list that is stale or too broad.",),
        references=(
            "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-ec2.html",
        ),
    ),
    where='"query_name__threat_custom" IS NOT NULL',
)
