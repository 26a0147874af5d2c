"""Backdoor:EC2/C&CActivity.B!DNS - A DNS query for a domain on a threat list of category c2."""

from __future__ import annotations

from trailguard.detect.detection import DetectionMeta, EventDetection

DETECTION = EventDetection(
    meta=DetectionMeta(
        id="c2_activity_b_dns",
        finding_type="Backdoor:EC2/C&CActivity.B!DNS",
        severity=8.0,
        title=("{instance} queried a domain associated with a known command and control server."),
        description=(
            "{instance} queried {domain}, on the command-and-control list {query_name__threat_c2}."
        ),
        log_type="dns",
        resource_type="Instance",
        mitre=("T1071.004",),
        false_positives=("Sinkholes and security research hosts that some lists include.",),
        references=(
            "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-ec2.html",
        ),
    ),
    where='"query_name__threat_c2" IS NOT NULL',
)
