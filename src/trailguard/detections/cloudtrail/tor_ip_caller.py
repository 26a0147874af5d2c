"""UnauthorizedAccess:IAMUser/TorIPCaller.

A non-reconnaissance API call from an address on a threat list of category tor.
"""

from __future__ import annotations

from trailguard.detect.detection import DetectionMeta, EventDetection
from trailguard.detections.cloudtrail import RECON_CALL

DETECTION = EventDetection(
    meta=DetectionMeta(
        id="tor_ip_caller",
        finding_type="UnauthorizedAccess:IAMUser/TorIPCaller",
        severity=5.0,
        title=("API {api} was invoked from a Tor exit node."),
        description=(
            "{principal} called {eventName} of {eventSource} in account {account} from {ip}, a "
            "Tor exit node (list {sourceIPAddress__threat_tor}). Tor hides who is really making "
            "the call."
        ),
        log_type="cloudtrail",
        resource_type="AccessKey",
        mitre=("T1090.003",),
        false_positives=("People in your organisation who use Tor Browser to reach the console.",),
        references=(
            "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-iam.html",
        ),
    ),
    where=f'"sourceIPAddress__threat_tor" IS NOT NULL AND NOT {RECON_CALL}',
)
