"""CryptoCurrency:EC2/BitcoinTool.B!DNS.

A DNS query for a domain on a threat list of category mining.
"""

from __future__ import annotations

from trailguard.detect.detection import DetectionMeta, EventDetection

DETECTION = EventDetection(
    meta=DetectionMeta(
        id="bitcoin_tool_b_dns",
        finding_type="CryptoCurrency:EC2/BitcoinTool.B!DNS",
        severity=8.0,
        title=("{instance} queried a cryptocurrency-related domain."),
        description=(
            "{instance} queried {domain}, on the mining list {query_name__threat_mining}."
        ),
        log_type="dns",
        resource_type="Instance",
        mitre=("T1496",),
        false_positives=("Instances that mine or run a cryptocurrency node on purpose.",),
        references=(
            "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-ec2.html",
        ),
    ),
    where='"query_name__threat_mining" IS NOT NULL',
)
