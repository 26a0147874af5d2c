"""Recon:IAMUser/MaliciousIPCaller.Custom.

A List/Describe/Get call from an address on one of your threat lists (category custom).
"""

from __future__ import annotations

from trailguard.detect.detection import DetectionMeta, EventDetection
from trailguard.detections.cloudtrail import RECON_CALL

DETECTION = EventDetection(
    meta=DetectionMeta(
        id="recon_malicious_ip_caller_custom",
        finding_type="Recon:IAMUser/MaliciousIPCaller.Custom",
        severity=5.0,
        title=(
            "Reconnaissance API {api} was invoked from an IP address on threat list "
            "{sourceIPAddress__threat_custom}."
        ),
        description=(
            "{principal} called {eventName} of {eventSource} in account {account} from {ip}, "
            "which is on your threat list {sourceIPAddress__threat_custom}. List, Describe and "
            "Get calls map what the account holds."
        ),
        log_type="cloudtrail",
        resource_type="AccessKey",
        mitre=("T1087", "T1580"),
        false_positives=(
            "An address on a list that is stale or too broad (a shared NAT or VPN exit).",
        ),
        references=(
            "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-iam.html",
        ),
    ),
    where=f'"sourceIPAddress__threat_custom" IS NOT NULL AND {RECON_CALL}',
)
