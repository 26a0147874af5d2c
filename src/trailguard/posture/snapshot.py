"""Read one account's configuration from AWS once, into an :class:`AccountSnapshot`.

Regions, buckets and trails are read side by side (a thread pool; every call still
passes the run's one call gate, see :mod:`trailguard.posture.aws`).  A call that gives
no answer leaves an :class:`Unavailable` where its value would be; nothing here raises
for what AWS says.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from trailguard.errors import AwsApiError
from trailguard.posture.aws import Aws
from trailguard.posture.checks.base import SERVICES
from trailguard.posture.model import (
    AccountSnapshot,
    Bucket,
    CaCertificate,
    DbInstance,
    FlowLog,
    Grant,
    IngressRule,
    Instance,
    LifecycleRule,
    Maybe,
    NetworkInterface,
    PostureConfig,
    PublicAccessBlock,
    RegionSnapshot,
    SecurityGroup,
    Trail,
    Unavailable,
    Vpc,
)

T = TypeVar("T")


def _not_read(service: str) -> Any:
    raise AwsApiError(f"{service}:*", "error", "not read: no selected check needs it")


def attempt(fetch: Callable[[], T]) -> Maybe[T]:
    """``fetch()``, or the :class:`Unavailable` that says why AWS did not answer."""
    try:
        return fetch()
    except AwsApiError as exc:
        return Unavailable(exc.api, exc.kind, exc.reason)


def take_snapshot(
    aws: Aws,
    account_id: str,
    regions: Sequence[str],
    config: PostureConfig,
    clock: Callable[[], datetime],
    name: str = "",
    services: frozenset[str] | None = None,
) -> AccountSnapshot:
    """Read what the checks need from one account, once: the parts of ``services`` (by
    default all; see ``CheckMeta.needs``).  A part not read is :data:`NOT_READ`."""
    taken_at = clock()
    wanted = SERVICES if services is None else services
    home = regions[0] if regions else aws.options.default_region
    workers = max(1, aws.options.concurrency)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="posture") as pool:
        region_futures = [pool.submit(_region, aws, r, wanted) for r in regions]
        trail_futures = [
            pool.submit(
                attempt,
                lambda r=r: (
                    _trails_seen(aws, r) if "cloudtrail" in wanted else _not_read("cloudtrail")
                ),
            )
            for r in regions
        ]
        pab_future = pool.submit(
            attempt,
            lambda: (
                _account_public_access_block(aws, account_id, home)
                if "s3control" in wanted
                else _not_read("s3control")
            ),
        )
        listed = attempt(lambda: _list_buckets(aws, home) if "s3" in wanted else _not_read("s3"))
        bucket_futures: list[Future[Bucket]] = []
        if not isinstance(listed, Unavailable):
            bucket_futures = [
                pool.submit(_bucket, aws, name_, region, created, home)
                for name_, region, created in listed
            ]
        seen = [f.result() for f in trail_futures]
        trails = _merge_trails(seen)
        trail_future: Future[Maybe[tuple[Trail, ...]]] | None = None
        if not isinstance(trails, Unavailable):
            trail_future = pool.submit(lambda: tuple(_trail_state(aws, t) for t in trails))
        region_snaps = tuple(f.result() for f in region_futures)
        buckets: Maybe[tuple[Bucket, ...]] = (
            listed
            if isinstance(listed, Unavailable)
            else tuple(sorted((f.result() for f in bucket_futures), key=lambda b: b.name))
        )
        full_trails: Maybe[tuple[Trail, ...]] = (
            trail_future.result() if trail_future is not None else ()
        )
        if isinstance(trails, Unavailable):
            full_trails = trails
        account_pab = pab_future.result()
    return AccountSnapshot(
        account_id=account_id,
        taken_at=taken_at,
        config=config,
        regions=region_snaps,
        buckets=buckets,
        account_public_access_block=account_pab,
        trails=full_trails,
        name=name,
    )


# --- S3 -------------------------------------------------------------------------------


def _list_buckets(aws: Aws, home: str) -> list[tuple[str, str | None, datetime | None]]:
    out: list[tuple[str, str | None, datetime | None]] = []
    for page in aws.pages("s3", home, "ListBuckets"):
        for b in page.get("Buckets", []):
            out.append((b["Name"], b.get("BucketRegion"), b.get("CreationDate")))
    return out


def _location(aws: Aws, name: str, home: str) -> str:
    got = aws.call("s3", home, "GetBucketLocation", Bucket=name) or {}
    loc = got.get("LocationConstraint")
    if not loc:
        return "us-east-1"
    return "eu-west-1" if loc == "EU" else str(loc)


def _pab(raw: Mapping[str, Any] | None) -> PublicAccessBlock | None:
    if raw is None:
        return None
    c = raw.get("PublicAccessBlockConfiguration") or {}
    return PublicAccessBlock(
        block_public_acls=bool(c.get("BlockPublicAcls")),
        ignore_public_acls=bool(c.get("IgnorePublicAcls")),
        block_public_policy=bool(c.get("BlockPublicPolicy")),
        restrict_public_buckets=bool(c.get("RestrictPublicBuckets")),
    )


def _account_public_access_block(aws: Aws, account_id: str, home: str) -> PublicAccessBlock | None:
    return _pab(
        aws.call(
            "s3control",
            home,
            "GetPublicAccessBlock",
            AccountId=account_id,
            absent=("NoSuchPublicAccessBlockConfiguration",),
        )
    )


def lifecycle_rule(rule: Mapping[str, Any]) -> LifecycleRule:
    """One rule of GetBucketLifecycleConfiguration, reduced."""
    flt = rule.get("Filter")
    legacy_prefix = rule.get("Prefix")
    whole = (flt is None or flt == {} or flt == {"Prefix": ""}) and not legacy_prefix
    exp = rule.get("Expiration") or {}
    nce = rule.get("NoncurrentVersionExpiration") or {}
    date = exp.get("Date")
    return LifecycleRule(
        id=str(rule.get("ID") or ""),
        enabled=rule.get("Status") == "Enabled",
        whole_bucket=whole,
        expiration_days=exp.get("Days"),
        expiration_date=date.isoformat() if isinstance(date, datetime) else date,
        noncurrent_days=nce.get("NoncurrentDays"),
    )


def _grants(raw: Mapping[str, Any]) -> tuple[Grant, ...]:
    out = []
    for g in raw.get("Grants", []):
        grantee = g.get("Grantee") or {}
        kind = str(grantee.get("Type") or "")
        who = grantee.get("URI") or grantee.get("ID") or grantee.get("EmailAddress") or ""
        out.append(Grant(kind, str(who), str(g.get("Permission") or "")))
    return tuple(out)


def _policy(raw: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if raw is None:
        return None
    try:
        doc = json.loads(raw.get("Policy") or "{}")
    except json.JSONDecodeError as exc:
        raise AwsApiError("s3:GetBucketPolicy", "error", f"policy is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise AwsApiError("s3:GetBucketPolicy", "error", "policy is not a JSON object")
    return doc


def _bucket(
    aws: Aws, name: str, listed_region: str | None, created: datetime | None, home: str
) -> Bucket:
    region_or_gap = listed_region if listed_region else attempt(lambda: _location(aws, name, home))
    # without its region, the bucket is still read through the home region's endpoint
    region = home if isinstance(region_or_gap, Unavailable) else region_or_gap

    def call(op: str, absent: tuple[str, ...] = ()) -> dict[str, Any] | None:
        return aws.call("s3", region, op, Bucket=name, absent=absent)

    versioning = attempt(lambda: call("GetBucketVersioning") or {})
    return Bucket(
        name=name,
        region=region,
        created=created,
        tags=attempt(
            lambda: {
                t["Key"]: t["Value"]
                for t in (call("GetBucketTagging", ("NoSuchTagSet",)) or {}).get("TagSet", [])
            }
        ),
        versioning=(
            versioning
            if isinstance(versioning, Unavailable)
            else str(versioning.get("Status") or "")
        ),
        mfa_delete=(
            versioning
            if isinstance(versioning, Unavailable)
            else versioning.get("MFADelete") == "Enabled"
        ),
        lifecycle=attempt(
            lambda: tuple(
                lifecycle_rule(r)
                for r in (
                    call("GetBucketLifecycleConfiguration", ("NoSuchLifecycleConfiguration",)) or {}
                ).get("Rules", [])
            )
        ),
        public_access_block=attempt(
            lambda: _pab(call("GetPublicAccessBlock", ("NoSuchPublicAccessBlockConfiguration",)))
        ),
        policy=attempt(lambda: _policy(call("GetBucketPolicy", ("NoSuchBucketPolicy",)))),
        acl=attempt(lambda: _grants(call("GetBucketAcl") or {})),
        encryption=attempt(
            lambda: tuple(
                str((r.get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm"))
                for r in (
                    (
                        call(
                            "GetBucketEncryption",
                            ("ServerSideEncryptionConfigurationNotFoundError",),
                        )
                        or {}
                    )
                    .get("ServerSideEncryptionConfiguration", {})
                    .get("Rules", [])
                )
                if r.get("ApplyServerSideEncryptionByDefault")
            )
        ),
        logging_target=attempt(
            lambda: (call("GetBucketLogging") or {}).get("LoggingEnabled", {}).get("TargetBucket")
        ),
    )


# --- CloudTrail -----------------------------------------------------------------------


def _trails_seen(aws: Aws, region: str) -> list[dict[str, Any]]:
    got = aws.call("cloudtrail", region, "DescribeTrails", includeShadowTrails=True) or {}
    return list(got.get("trailList", []))


def _merge_trails(seen: list[Maybe[list[dict[str, Any]]]]) -> Maybe[list[dict[str, Any]]]:
    """Trails seen from every region, once each.  A multi-region trail shows in every
    region, so one region that answered is enough to know whether one exists."""
    answered = [s for s in seen if not isinstance(s, Unavailable)]
    if not answered:
        gaps = [s for s in seen if isinstance(s, Unavailable)]
        return gaps[0] if gaps else []
    by_arn: dict[str, dict[str, Any]] = {}
    for trails in answered:
        for t in trails:
            by_arn.setdefault(str(t.get("TrailARN")), t)
    return [by_arn[k] for k in sorted(by_arn)]


def management_events(raw: Mapping[str, Any]) -> bool:
    """Whether a trail's selectors (GetEventSelectors) log read and write management events."""
    basic = raw.get("EventSelectors") or []
    advanced = raw.get("AdvancedEventSelectors") or []
    if not basic and not advanced:
        return True  # no selectors stored: CloudTrail's default, all management events
    for s in basic:
        if s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") == "All":
            return True
    for s in advanced:
        fields = {f.get("Field"): f for f in s.get("FieldSelectors", [])}
        category = fields.get("eventCategory") or {}
        if "Management" in (category.get("Equals") or []) and "readOnly" not in fields:
            return True
    return False


def _trail_state(aws: Aws, raw: Mapping[str, Any]) -> Trail:
    arn = str(raw.get("TrailARN"))
    home = str(raw.get("HomeRegion") or aws.options.default_region)
    logging = attempt(
        lambda: bool(
            (aws.call("cloudtrail", home, "GetTrailStatus", Name=arn) or {}).get("IsLogging")
        )
    )
    selectors = attempt(
        lambda: management_events(
            aws.call("cloudtrail", home, "GetEventSelectors", TrailName=arn) or {}
        )
    )
    return Trail(
        name=str(raw.get("Name")),
        arn=arn,
        home_region=home,
        multi_region=bool(raw.get("IsMultiRegionTrail")),
        organization=bool(raw.get("IsOrganizationTrail")),
        bucket=raw.get("S3BucketName"),
        log_file_validation=bool(raw.get("LogFileValidationEnabled")),
        kms_key_id=raw.get("KmsKeyId"),
        cloudwatch_logs_group=raw.get("CloudWatchLogsLogGroupArn"),
        logging=logging,
        management_events=selectors,
    )


# --- regions ------------------------------------------------------------------------


def _tags(raw: Any) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value", "")) for t in raw or []}


def _port(value: Any) -> int | None:
    return None if value is None else int(value)


def _security_groups(aws: Aws, region: str) -> tuple[SecurityGroup, ...]:
    out = []
    for page in aws.pages("ec2", region, "DescribeSecurityGroups"):
        for g in page.get("SecurityGroups", []):
            rules = tuple(
                IngressRule(
                    protocol=str(p.get("IpProtocol", "-1")),
                    from_port=_port(p.get("FromPort")),
                    to_port=_port(p.get("ToPort")),
                    cidrs=tuple(
                        [str(r["CidrIp"]) for r in p.get("IpRanges", []) if "CidrIp" in r]
                        + [str(r["CidrIpv6"]) for r in p.get("Ipv6Ranges", []) if "CidrIpv6" in r]
                    ),
                )
                for p in g.get("IpPermissions", [])
            )
            out.append(
                SecurityGroup(g["GroupId"], str(g.get("GroupName", "")), g.get("VpcId"), rules)
            )
    return tuple(out)


def _instances(aws: Aws, region: str) -> tuple[Instance, ...]:
    out = []
    for page in aws.pages("ec2", region, "DescribeInstances"):
        for reservation in page.get("Reservations", []):
            for i in reservation.get("Instances", []):
                out.append(
                    Instance(
                        id=i["InstanceId"],
                        state=str((i.get("State") or {}).get("Name", "")),
                        vpc_id=i.get("VpcId"),
                        subnet_id=i.get("SubnetId"),
                        private_ip=i.get("PrivateIpAddress"),
                        security_groups=tuple(g["GroupId"] for g in i.get("SecurityGroups", [])),
                        tags=_tags(i.get("Tags")),
                    )
                )
    return tuple(out)


def _network_interfaces(aws: Aws, region: str) -> tuple[NetworkInterface, ...]:
    out = []
    for page in aws.pages("ec2", region, "DescribeNetworkInterfaces"):
        for n in page.get("NetworkInterfaces", []):
            out.append(
                NetworkInterface(
                    id=n["NetworkInterfaceId"],
                    status=str(n.get("Status", "")),
                    vpc_id=n.get("VpcId"),
                    security_groups=tuple(g["GroupId"] for g in n.get("Groups", [])),
                    description=str(n.get("Description", "")),
                    attached_instance=(n.get("Attachment") or {}).get("InstanceId"),
                )
            )
    return tuple(out)


def _vpcs(aws: Aws, region: str) -> tuple[Vpc, ...]:
    return tuple(
        Vpc(v["VpcId"], bool(v.get("IsDefault")), _tags(v.get("Tags")))
        for page in aws.pages("ec2", region, "DescribeVpcs")
        for v in page.get("Vpcs", [])
    )


def _flow_logs(aws: Aws, region: str) -> tuple[FlowLog, ...]:
    return tuple(
        FlowLog(f["FlowLogId"], str(f.get("ResourceId", "")), str(f.get("FlowLogStatus", "")))
        for page in aws.pages("ec2", region, "DescribeFlowLogs")
        for f in page.get("FlowLogs", [])
    )


def _resolver_logged_vpcs(aws: Aws, region: str) -> frozenset[str]:
    return frozenset(
        str(a.get("ResourceId"))
        for page in aws.pages("route53resolver", region, "ListResolverQueryLogConfigAssociations")
        for a in page.get("ResolverQueryLogConfigAssociations", [])
        if a.get("Status") in ("ACTIVE", "CREATING")
    )


def _db_instances(aws: Aws, region: str) -> tuple[DbInstance, ...]:
    out = []
    for page in aws.pages("rds", region, "DescribeDBInstances"):
        for d in page.get("DBInstances", []):
            subnets = d.get("DBSubnetGroup") or {}
            out.append(
                DbInstance(
                    id=d["DBInstanceIdentifier"],
                    arn=str(d.get("DBInstanceArn", "")),
                    engine=str(d.get("Engine", "")),
                    engine_version=str(d.get("EngineVersion", "")),
                    status=str(d.get("DBInstanceStatus", "")),
                    publicly_accessible=bool(d.get("PubliclyAccessible")),
                    ca_identifier=d.get("CACertificateIdentifier"),
                    vpc_id=subnets.get("VpcId"),
                    security_groups=tuple(
                        g["VpcSecurityGroupId"] for g in d.get("VpcSecurityGroups", [])
                    ),
                    port=_port((d.get("Endpoint") or {}).get("Port") or d.get("DbInstancePort")),
                    tags=_tags(d.get("TagList")),
                )
            )
    return tuple(out)


def _ca_certificates(aws: Aws, region: str) -> tuple[CaCertificate, ...]:
    return tuple(
        CaCertificate(
            id=str(c["CertificateIdentifier"]),
            valid_from=c.get("ValidFrom"),
            valid_till=c["ValidTill"],
        )
        for page in aws.pages("rds", region, "DescribeCertificates")
        for c in page.get("Certificates", [])
    )


def _region(aws: Aws, region: str, wanted: frozenset[str]) -> RegionSnapshot:
    def part(service: str, fetch: Callable[[], T]) -> Maybe[T]:
        return attempt(fetch if service in wanted else lambda: _not_read(service))

    dbs = part("rds", lambda: _db_instances(aws, region))
    # no DB instance, no CA to look up: one call fewer per region
    certs: Maybe[tuple[CaCertificate, ...]] = (
        attempt(lambda: _ca_certificates(aws, region))
        if dbs and not isinstance(dbs, Unavailable)
        else ()
    )
    return RegionSnapshot(
        region=region,
        vpcs=part("ec2", lambda: _vpcs(aws, region)),
        security_groups=part("ec2", lambda: _security_groups(aws, region)),
        instances=part("ec2", lambda: _instances(aws, region)),
        network_interfaces=part("ec2", lambda: _network_interfaces(aws, region)),
        flow_logs=part("ec2", lambda: _flow_logs(aws, region)),
        resolver_logged_vpcs=part("route53resolver", lambda: _resolver_logged_vpcs(aws, region)),
        db_instances=dbs,
        ca_certificates=certs,
    )
