"""Recon:EC2/Portscan - an instance probes many ports of one remote host in a short time.

Counted flows are probe-like (rejected, or at most three packets) from an
ephemeral source port to a port below 32768, so that a server answering many
clients (whose ephemeral ports are the destinations) is not a scanner.
"""

from datetime import timedelta

from trailguard.detect.detection import DetectionMeta, WindowDetection

_PRIVATE_SRC = (
    "(\"srcaddr\" LIKE '10.%' OR \"srcaddr\" LIKE '192.168.%' "
    "OR regexp_matches(\"srcaddr\", '^172\\.(1[6-9]|2[0-9]|3[01])\\.') "
    "OR lower(\"srcaddr\") LIKE 'fd%' OR lower(\"srcaddr\") LIKE 'fc%')"
)

DETECTION = WindowDetection(
    meta=DetectionMeta(
        id="portscan",
        finding_type="Recon:EC2/Portscan",
        severity=5.0,
        title="{instance} is performing outbound port scans against remote host {remote_ip}.",
        description=(
            "{instance} ({local_ip}) probed {distinct_count} distinct ports on {remote_ip} "
            "within {window_minutes} minutes. The instance may be compromised and used "
            "for reconnaissance."
        ),
        log_type="vpcflow",
        resource_type="Instance",
        mitre=("T1046",),
        false_positives=("Vulnerability scanners; suppress by instance or AMI tag.",),
    ),
    where=(
        "\"protocol\" IN (6, 17) AND coalesce(\"flow_direction\", 'egress') = 'egress' "
        f"AND {_PRIVATE_SRC} "
        'AND "srcport" >= 1024 AND "dstport" < 32768 '
        'AND ("action" = \'REJECT\' OR "packets" <= 3)'
    ),
    key=("interface_id", "srcaddr", "dstaddr"),
    distinct="dstport",
    threshold=25,
    window=timedelta(minutes=10),
    # the hit's details besides the key; kept per (key, window), so kept short
    carry=("account_id", "region", "instance_id", "vpc_id", "protocol", "action"),
    extra={"window_minutes": 10},
)
