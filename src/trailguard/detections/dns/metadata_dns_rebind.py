"""UnauthorizedAccess:EC2/MetadataDNSRebind - a domain resolved to the instance metadata address.

A name that resolves to 169.254.169.254 (or IMDS's IPv6 address) lets a
web application that fetches user-supplied URLs be tricked into reading
instance credentials (DNS rebinding / SSRF).
"""

from trailguard.detect.detection import DetectionMeta, EventDetection

DETECTION = EventDetection(
    meta=DetectionMeta(
        id="metadata_dns_rebind",
        finding_type="UnauthorizedAccess:EC2/MetadataDNSRebind",
        severity=8.0,
        title="{instance} queried a domain that resolves to the instance metadata service.",
        description=(
            "{instance} queried {domain}, which resolved to {answers}: the EC2 instance "
            "metadata address. This is used in DNS-rebinding attacks to steal instance "
            "credentials."
        ),
        log_type="dns",
        resource_type="Instance",
        mitre=("T1552.005",),
        actor_field="query_name",
        false_positives=("Domains intentionally mapped to 169.254.169.254.",),
    ),
    where=(
        'list_has_any([a."Rdata" FOR a IN "answers"], '
        "['169.254.169.254', 'fd00:ec2::254']) "
        "AND lower(rtrim(\"query_name\", '.')) <> '169.254.169.254'"
    ),
)
