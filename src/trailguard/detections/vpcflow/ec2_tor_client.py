"""UnauthorizedAccess:EC2/TorClient.

Outbound traffic from a private address to an address on a threat list of category tor.
"""

from __future__ import annotations

from trailguard.detect.detection import DetectionMeta, EventDetection

DETECTION = EventDetection(
    meta=DetectionMeta(
        id="ec2_tor_client",
        finding_type="UnauthorizedAccess:EC2/TorClient",
        severity=8.0,
        title=("{instance} is connecting to a Tor node."),
        description=(
            "{instance} ({local_ip}) connected to {remote_ip}, a Tor node (list {threat_list}). "
            "The instance may be compromised, or someone is using it to hide their traffic."
        ),
        log_type="vpcflow",
        resource_type="Instance",
        mitre=("T1090.003",),
        false_positives=("Instances that run Tor on purpose.",),
        references=(
            "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-ec2.html",
        ),
    ),
    where='"dstaddr__threat_tor" IS NOT NULL AND NOT coalesce("srcaddr__public", false)',
)
