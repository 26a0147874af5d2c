"""A hit: one occurrence of a detection, shaped the way GuardDuty describes it.

The shape helpers here turn a matched row (a dict of the normalised schema's
columns) into the resource and action blocks of a GuardDuty finding.  The
findings stage aggregates hits; it never looks at rows.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from trailguard.detect.detection import DetectionMeta
from trailguard.formats.schema import POS, LogType

Row = Mapping[str, Any]

FEATURE: Final[dict[LogType, str]] = {
    "cloudtrail": "CloudTrail",
    "vpcflow": "FlowLogs",
    "dns": "DnsLogs",
}
PROTOCOLS: Final = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPV6"}
_REGION_IN_KEY: Final = re.compile(
    r"/(?:vpcflowlogs|CloudTrail|vpcdnsquerylogs)/([a-z]{2}(?:-[a-z]+)+-\d)/"
)


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence of a detection, ready to aggregate into a finding."""

    detection_id: str
    finding_type: str
    severity: float
    title: str
    description: str
    account_id: str
    region: str
    resource_type: str
    resource_key: str
    actor_key: str
    resource: dict[str, Any]
    action: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    event_key: str
    object: str
    position: str
    feature: str
    resource_role: str = "TARGET"
    additional_info: dict[str, Any] = field(default_factory=dict)
    #: GuardDuty's ``evidence.threatIntelligenceDetails``: the lists the row's addresses and
    #: domains are on
    threat_intelligence: list[dict[str, Any]] = field(default_factory=list)


class _Safe(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill a metadata template; unknown names render as ``?`` rather than failing."""
    try:
        return template.format_map(_Safe(values))
    except (ValueError, AttributeError, IndexError, KeyError):
        return template


def row_digest(row: Row, columns: tuple[str, ...] | None = None) -> str:
    """A stable key for a row without an id of its own (independent of its object)."""
    # enrichment columns ("…__…") depend on the lists of the day, not on the event
    names = (
        columns
        if columns is not None
        else tuple(sorted(k for k in row if k != POS and "__" not in k))
    )
    h = hashlib.blake2b(digest_size=16)
    for name in names:
        h.update(repr(row.get(name)).encode("utf-8", "replace"))
        h.update(b"\x1f")
    return h.hexdigest()


def ip_details(ip: str | None, row: Row | None = None, column: str | None = None) -> dict[str, Any]:
    """GuardDuty's ``…IpDetails`` of ``ip``; with the enrichment columns of ``column`` in
    ``row``, also its country, city, organisation and AWS service."""
    if not ip:
        return {}
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return {}
    out: dict[str, Any] = {"ipAddressV6": ip} if addr.version == 6 else {"ipAddressV4": ip}
    if row is None or column is None:
        return out
    prefix = f"{column}__"
    country = row.get(prefix + "country")
    if country:
        out["country"] = {"countryCode": country, "countryName": row.get(prefix + "country_name")}
    city = row.get(prefix + "city")
    if city:
        out["city"] = {"cityName": city}
    org = row.get(prefix + "as_org")
    asn = row.get(prefix + "asn")
    if org or asn:
        out["organization"] = {
            "asn": str(asn) if asn is not None else None,
            "asnOrg": org,
            "isp": org,
            "org": org,
        }
    if row.get(prefix + "aws"):
        out["awsDetails"] = {
            "service": row.get(prefix + "aws_service"),
            "region": row.get(prefix + "aws_region"),
        }
    return out


#: the suffixes of the enrichment columns that name a threat list, by list category
THREAT_SUFFIXES: Final = ("__threat_custom", "__threat_tor", "__threat_mining", "__threat_c2")


def threat_intelligence(row: Row) -> list[dict[str, Any]]:
    """``threatIntelligenceDetails``: each threat list a value of ``row`` is on, once."""
    found: dict[str, set[str]] = {}
    for key, value in row.items():
        if value and key.endswith(THREAT_SUFFIXES):
            names = found.setdefault(str(value), set())
            name = row.get(key + "_name")
            if name:
                names.add(str(name))
    return [
        {"threatListName": name, "threatNames": sorted(threats)}
        for name, threats in sorted(found.items())
    ]


def is_public(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        return ipaddress.ip_address(ip).is_global
    except ValueError:
        return False


def region_from_object(name: str) -> str:
    m = _REGION_IN_KEY.search(name)
    return m.group(1) if m else "unknown"


# --- CloudTrail ---------------------------------------------------------------------------


def cloudtrail_principal(ui: Mapping[str, Any] | None) -> tuple[str, str, str]:
    """(userType, userName, principal key) from a ``userIdentity`` struct."""
    ui = ui or {}
    kind = ui.get("type") or "Unknown"
    issuer = ((ui.get("sessionContext") or {}).get("sessionIssuer")) or {}
    name: str | None
    if kind == "Root":
        name = "Root"
    elif kind in ("AssumedRole", "FederatedUser"):
        name = issuer.get("userName") or ui.get("userName")
    elif kind == "IdentityCenterUser":
        name = (ui.get("onBehalfOf") or {}).get("userId")
    elif kind == "AWSService":
        name = ui.get("invokedBy")
    else:
        name = ui.get("userName")
    key = ui.get("arn") or ui.get("principalId") or ui.get("accessKeyId") or name or "unknown"
    return kind, name or "unknown", key


def cloudtrail_hit(meta: DetectionMeta, row: Row, obj: str, more: Row | None = None) -> Hit:
    ui = row.get("userIdentity") or {}
    user_type, user_name, principal = cloudtrail_principal(ui)
    ip = row.get("sourceIPAddress")
    account = row.get("recipientAccountId") or ui.get("accountId") or "unknown"
    region = row.get("awsRegion") or "unknown"
    when: datetime = row["eventTime"]
    remote = ip_details(ip, row, "sourceIPAddress")
    api: dict[str, Any] = {
        "api": row.get("eventName"),
        "serviceName": row.get("eventSource"),
        "callerType": "Remote IP" if remote else "AWS Service" if ip else "Unknown",
        "userAgent": row.get("userAgent"),
    }
    if row.get("errorCode"):
        api["errorCode"] = row.get("errorCode")
    if remote:
        api["remoteIpDetails"] = remote
    elif ip:
        api["domainDetails"] = {"domain": ip}
    return _new_hit(
        meta,
        row,
        {
            "principal": user_name,
            "user_type": user_type,
            "arn": ui.get("arn"),
            "ip": ip,
            "api": row.get("eventName"),
            "account": account,
            "region": region,
        },
        more,
        account_id=account,
        region=region,
        resource_type="AccessKey",
        resource_key=principal,
        resource={
            "resourceType": "AccessKey",
            "accessKeyDetails": {
                "accessKeyId": ui.get("accessKeyId"),
                "principalId": ui.get("principalId"),
                "userName": user_name,
                "userType": user_type,
            },
        },
        action={"actionType": "AWS_API_CALL", "awsApiCallAction": api},
        first_seen=when,
        last_seen=when,
        event_key=row.get("eventID") or row_digest(row),
        object=obj,
        position=f"record {row.get(POS)}",
        feature=FEATURE["cloudtrail"],
    )


# --- VPC flow logs ----------------------------------------------------------------------


def flow_sides(row: Row) -> tuple[str, str | None, int | None, str | None, int | None]:
    """(direction, local ip, local port, remote ip, remote port) of a flow record."""
    src, dst = row.get("srcaddr"), row.get("dstaddr")
    sport, dport = row.get("srcport"), row.get("dstport")
    direction = row.get("flow_direction")
    if direction == "ingress" or (direction is None and is_public(src) and not is_public(dst)):
        return "INBOUND", dst, dport, src, sport
    if direction == "egress" or (direction is None and not is_public(src) and is_public(dst)):
        return "OUTBOUND", src, sport, dst, dport
    return "UNKNOWN", src, sport, dst, dport


def _column_of(row: Row, ip: str | None) -> str:
    return "srcaddr" if ip is not None and ip == row.get("srcaddr") else "dstaddr"


def instance_resource(
    instance_id: str | None,
    eni: str | None = None,
    private_ip: str | None = None,
    vpc_id: str | None = None,
    subnet_id: str | None = None,
) -> dict[str, Any]:
    nic = {
        k: v
        for k, v in {
            "networkInterfaceId": eni,
            "privateIpAddress": private_ip,
            "vpcId": vpc_id,
            "subnetId": subnet_id,
        }.items()
        if v
    }
    details: dict[str, Any] = {"instanceId": instance_id}
    if nic:
        details["networkInterfaces"] = [nic]
    return {"resourceType": "Instance", "instanceDetails": details}


def flow_hit(meta: DetectionMeta, row: Row, obj: str, more: Row | None = None) -> Hit:
    direction, local_ip, local_port, remote_ip, remote_port = flow_sides(row)
    instance = row.get("instance_id")
    eni = row.get("interface_id")
    account = row.get("account_id") or "unknown"
    region = row.get("region") or region_from_object(obj)
    first: datetime = row["start"]
    last: datetime = row.get("end") or first
    action = {
        "actionType": "NETWORK_CONNECTION",
        "networkConnectionAction": {
            "connectionDirection": direction,
            "protocol": PROTOCOLS.get(row.get("protocol") or -1, str(row.get("protocol"))),
            "blocked": row.get("action") == "REJECT",
            "localPortDetails": {"port": local_port},
            "remotePortDetails": {"port": remote_port},
            "localIpDetails": ip_details(local_ip, row, _column_of(row, local_ip)),
            "remoteIpDetails": ip_details(remote_ip, row, _column_of(row, remote_ip)),
        },
    }
    return _new_hit(
        meta,
        row,
        {
            "instance": instance or eni,
            "local_ip": local_ip,
            "remote_ip": remote_ip,
            "ip": remote_ip,
            "account": account,
            "region": region,
        },
        more,
        account_id=account,
        region=region,
        resource_type="Instance",
        resource_key=instance or eni or local_ip or "unknown",
        resource=instance_resource(
            instance, eni, local_ip, row.get("vpc_id"), row.get("subnet_id")
        ),
        action=action,
        first_seen=first,
        last_seen=last,
        event_key=row_digest(row),
        object=obj,
        position=f"line {row.get(POS)}",
        feature=FEATURE["vpcflow"],
        resource_role="ACTOR" if direction == "OUTBOUND" else "TARGET",
    )


# --- Route 53 Resolver query logs ------------------------------------------------------


def dns_hit(meta: DetectionMeta, row: Row, obj: str, more: Row | None = None) -> Hit:
    srcids = row.get("srcids") or {}
    instance = srcids.get("instance")
    account = row.get("account_id") or "unknown"
    region = row.get("region") or region_from_object(obj)
    when: datetime = row["query_timestamp"]
    answers = [a.get("Rdata") for a in (row.get("answers") or []) if a]
    return _new_hit(
        meta,
        row,
        {
            "domain": row.get("query_name"),
            "instance": instance or row.get("srcaddr"),
            "answers": ", ".join(str(a) for a in answers),
            "account": account,
            "region": region,
        },
        more,
        account_id=account,
        region=region,
        resource_type="Instance",
        resource_key=instance or row.get("srcaddr") or "unknown",
        resource=instance_resource(
            instance, private_ip=row.get("srcaddr"), vpc_id=row.get("vpc_id")
        ),
        action={
            "actionType": "DNS_REQUEST",
            "dnsRequestAction": {
                "domain": row.get("query_name"),
                "protocol": row.get("transport"),
                "blocked": row.get("firewall_rule_action") == "BLOCK",
            },
        },
        first_seen=when,
        last_seen=when,
        event_key=row_digest(row),
        object=obj,
        position=f"line {row.get(POS)}",
        feature=FEATURE["dns"],
        resource_role="ACTOR",
        additional_info={"answers": answers} if answers else {},
    )


def _new_hit(meta: DetectionMeta, row: Row, values: Row, more: Row | None, **fields: Any) -> Hit:
    """A hit of ``meta`` for ``row``: its templates filled from the row's scalar fields,
    the shape's own ``values`` and the detection's ``more``."""
    filled = {
        **{k: v for k, v in row.items() if not isinstance(v, dict | list)},
        **values,
        **(more or {}),
    }
    intel = threat_intelligence(row)
    if intel:
        filled.setdefault("threat_list", ", ".join(t["threatListName"] for t in intel))
        info = fields.setdefault("additional_info", {})
        info["threatListName"] = ", ".join(t["threatListName"] for t in intel)
        fields["threat_intelligence"] = intel
    return Hit(
        detection_id=meta.id,
        finding_type=meta.finding_type,
        severity=meta.severity,
        title=render(meta.title, filled),
        description=render(meta.description, filled),
        actor_key=_actor(meta, row),
        **fields,
    )


def _actor(meta: DetectionMeta, row: Row) -> str:
    if meta.actor_field is None:
        return ""
    return str(row.get(meta.actor_field) or "")


def make_hit(meta: DetectionMeta, row: Row, obj: str, more: Row | None = None) -> Hit:
    """Shape a matched row of ``meta.log_type`` into a hit; ``more`` adds template values."""
    if meta.log_type == "cloudtrail":
        return cloudtrail_hit(meta, row, obj, more)
    if meta.log_type == "vpcflow":
        return flow_hit(meta, row, obj, more)
    return dns_hit(meta, row, obj, more)


__all__ = ["Hit", "make_hit", "render", "row_digest"]
