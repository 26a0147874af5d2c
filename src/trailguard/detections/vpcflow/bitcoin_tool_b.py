"""CryptoCurrency:EC2/BitcoinTool.B.

Traffic to or from an address on a threat list of category mining.
"""

from __future__ import annotations

from trailguard.detect.detection import DetectionMeta, EventDetection

DETECTION = EventDetection(
    meta=DetectionMeta(
        id="bitcoin_tool_b",
        finding_type="CryptoCurrency:EC2/BitcoinTool.B",
        severity=8.0,
        title=("{instance} is communicating with a cryptocurrency mining pool."),
        description=(
            "{instance} ({local_ip}) exchanged traffic with {remote_ip}, on the mining-pool list "
            "{threat_list}. Unwanted mining is a common use of stolen compute."
        ),
        log_type="vpcflow",
        resource_type="Instance",
        mitre=("T1496",),
        false_positives=("Instances that mine or run a cryptocurrency node on purpose.",),
        references=(
            "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-ec2.html",
        ),
    ),
    where='"srcaddr__threat_mining" IS NOT NULL OR "dstaddr__threat_mining" IS NOT NULL',
)
