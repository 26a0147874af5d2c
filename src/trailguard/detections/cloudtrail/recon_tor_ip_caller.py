"""Recon:IAMUser/TorIPCaller.

A List/Describe/Get call from an address on a threat list of category tor.
"""

from __future__ import annotations

from trailguard.detect.detection import DetectionMeta, EventDetection
from trailguard.detections.cloudtrail import RECON_CALL

DETECTION = EventDetection(
    meta=DetectionMeta(
        id="recon_tor_ip_caller",
        finding_type="Recon:IAMUser/TorIPCaller",
        severity=5.0,
        title=("Reconnaissance API {api} was invoked from a Tor exit node."),
        description=(
            "{principal} called {eventName} of {eventSource} in account {account} from {ip}, a "
            "Tor exit node (list {sourceIPAddress__threat_tor})."
        ),
        log_type="cloudtrail",
        resource_type="AccessKey",
        mitre=("T1090.003", "T1087"),
        false_positives=("People in your organisation who use Tor Browser to reach the console.",),
        references=(
            "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-iam.html",
        ),
    ),
    where=f'"sourceIPAddress__threat_tor" IS NOT NULL AND {RECON_CALL}',
)
