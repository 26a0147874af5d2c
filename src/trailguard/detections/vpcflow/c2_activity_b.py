"""Backdoor:EC2/C&CActivity.B - Traffic to or from an address on a threat list of category c2."""

from __future__ import annotations

from trailguard.detect.detection import DetectionMeta, EventDetection

DETECTION = EventDetection(
    meta=DetectionMeta(
        id="c2_activity_b",
        finding_type="Backdoor:EC2/C&CActivity.B",
        severity=8.0,
        title=("{instance} is communicating with a known command and control server."),
        description=(
            "{instance} ({local_ip}) exchanged traffic with {remote_ip}, on the command-and-"
            "control list {threat_list}. The instance may be part of a botnet."
        ),
        log_type="vpcflow",
        resource_type="Instance",
        mitre=("T1071",),
        false_positives=("Sinkholes and security research hosts that some lists include.",),
        references=(
            "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-ec2.html",
        ),
    ),
    where='"srcaddr__threat_c2" IS NOT NULL OR "dstaddr__threat_c2" IS NOT NULL',
)
