"""The snapshot of one account's configuration: frozen values, no clients.

:mod:`trailguard.posture.snapshot` fills it from AWS once; checks only read it.  A
value AWS would not give (denied, throttled, not implemented by the endpoint) is an
:class:`Unavailable` in its place, so each check can say exactly what it could not see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias, TypeVar

from trailguard import settings
from trailguard.posture.aws import ErrorKind

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A value AWS did not give: the API, why (kind) and its message."""

    api: str
    kind: ErrorKind
    reason: str

    def __str__(self) -> str:
        return f"{self.api} {self.kind}: {self.reason}"


#: a value, or why it is missing
Maybe: TypeAlias = T | Unavailable


def _default(name: str) -> Any:
    return settings.BY_NAME[name].default


@dataclass(frozen=True, slots=True)
class PostureConfig:
    """The user's conventions that the checks apply (defaults: the settings table)."""

    keep_forever_buckets: frozenset[str] = frozenset(_default("keep_forever_buckets"))
    keep_forever_tag: str = _default("keep_forever_tag")
    undelete_window_days: int = _default("undelete_window_days")
    database_ports: frozenset[int] = frozenset(int(p) for p in _default("database_ports"))
    environment_tag: str = _default("environment_tag")
    production_values: frozenset[str] = frozenset(_default("production_values"))


# --- S3 -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublicAccessBlock:
    """The four Block Public Access switches (account or bucket level)."""

    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False

    @property
    def all_on(self) -> bool:
        return (
            self.block_public_acls
            and self.ignore_public_acls
            and self.block_public_policy
            and self.restrict_public_buckets
        )

    def off(self) -> list[str]:
        names = {
            "BlockPublicAcls": self.block_public_acls,
            "IgnorePublicAcls": self.ignore_public_acls,
            "BlockPublicPolicy": self.block_public_policy,
            "RestrictPublicBuckets": self.restrict_public_buckets,
        }
        return [k for k, v in names.items() if not v]


@dataclass(frozen=True, slots=True)
class LifecycleRule:
    """One lifecycle rule, reduced to what the checks need."""

    id: str
    enabled: bool
    whole_bucket: bool
    expiration_days: int | None = None
    expiration_date: str | None = None
    noncurrent_days: int | None = None

    @property
    def expires_current(self) -> bool:
        return self.expiration_days is not None or self.expiration_date is not None

    @property
    def expires_anything(self) -> bool:
        return self.expires_current or self.noncurrent_days is not None


@dataclass(frozen=True, slots=True)
class Grant:
    """One ACL grant: the grantee (a group URI, a canonical id, an e-mail) and permission."""

    grantee_type: str
    grantee: str
    permission: str


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    region: str
    created: datetime | None
    tags: Maybe[Mapping[str, str]]
    versioning: Maybe[str]  # "Enabled", "Suspended" or "" (never enabled)
    mfa_delete: Maybe[bool]
    lifecycle: Maybe[tuple[LifecycleRule, ...]]
    public_access_block: Maybe[PublicAccessBlock | None]
    policy: Maybe[Mapping[str, Any] | None]
    acl: Maybe[tuple[Grant, ...]]
    encryption: Maybe[tuple[str, ...]]  # SSE algorithms of the default rules; () if none
    logging_target: Maybe[str | None]

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"


# --- CloudTrail ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trail:
    name: str
    arn: str
    home_region: str
    multi_region: bool
    organization: bool
    bucket: str | None
    log_file_validation: bool
    kms_key_id: str | None
    cloudwatch_logs_group: str | None
    logging: Maybe[bool]
    management_events: Maybe[bool]


# --- EC2, RDS, Route 53 Resolver ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class IngressRule:
    protocol: str  # "tcp", "udp", "-1" (all), ...
    from_port: int | None
    to_port: int | None
    cidrs: tuple[str, ...]

    def covers(self, port: int) -> bool:
        if self.protocol in ("-1", "all"):
            return True
        if self.protocol not in ("tcp", "6", "udp", "17"):
            return False
        low = -1 if self.from_port is None else self.from_port
        high = -1 if self.to_port is None else self.to_port
        if low == -1 and high == -1:
            return True
        return low <= port <= high


@dataclass(frozen=True, slots=True)
class SecurityGroup:
    id: str
    name: str
    vpc_id: str | None
    ingress: tuple[IngressRule, ...]


@dataclass(frozen=True, slots=True)
class Instance:
    id: str
    state: str
    vpc_id: str | None
    subnet_id: str | None
    private_ip: str | None
    security_groups: tuple[str, ...]
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class NetworkInterface:
    id: str
    status: str  # "in-use" when attached to something
    vpc_id: str | None
    security_groups: tuple[str, ...]
    description: str
    attached_instance: str | None


@dataclass(frozen=True, slots=True)
class DbInstance:
    id: str
    arn: str
    engine: str
    engine_version: str
    status: str
    publicly_accessible: bool
    ca_identifier: str | None
    vpc_id: str | None
    security_groups: tuple[str, ...]
    port: int | None
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CaCertificate:
    id: str
    valid_from: datetime | None
    valid_till: datetime


@dataclass(frozen=True, slots=True)
class Vpc:
    id: str
    is_default: bool
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class FlowLog:
    id: str
    resource_id: str
    status: str


@dataclass(frozen=True, slots=True)
class RegionSnapshot:
    """What one region holds."""

    region: str
    vpcs: Maybe[tuple[Vpc, ...]]
    security_groups: Maybe[tuple[SecurityGroup, ...]]
    instances: Maybe[tuple[Instance, ...]]
    network_interfaces: Maybe[tuple[NetworkInterface, ...]]
    flow_logs: Maybe[tuple[FlowLog, ...]]
    resolver_logged_vpcs: Maybe[frozenset[str]]
    db_instances: Maybe[tuple[DbInstance, ...]]
    ca_certificates: Maybe[tuple[CaCertificate, ...]]


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """One account's configuration, read once; ``taken_at`` is the checks' clock."""

    account_id: str
    taken_at: datetime
    config: PostureConfig
    regions: tuple[RegionSnapshot, ...]
    buckets: Maybe[tuple[Bucket, ...]]
    account_public_access_block: Maybe[PublicAccessBlock | None]
    trails: Maybe[tuple[Trail, ...]]
    name: str = ""
    notes: tuple[Unavailable, ...] = field(default_factory=tuple)

    def bucket(self, name: str) -> Bucket | None:
        if isinstance(self.buckets, Unavailable):
            return None
        return next((b for b in self.buckets if b.name == name), None)
