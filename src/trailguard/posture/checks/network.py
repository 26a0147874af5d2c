"""Exposed databases (the CloudPets failure): security groups open to the internet on
database and cache ports, publicly accessible RDS instances, and production resources
sharing a VPC or security group with non-production ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

from trailguard.posture.checks.base import (
    HIGH,
    MEDIUM,
    Check,
    CheckMeta,
    CheckResult,
    Status,
    tag_list,
)
from trailguard.posture.model import (
    AccountSnapshot,
    DbInstance,
    RegionSnapshot,
    SecurityGroup,
    Unavailable,
)

_OPEN: Final = frozenset({"0.0.0.0/0", "::/0"})
_RUNNING: Final = frozenset({"pending", "running"})
_DB_GONE: Final = frozenset({"deleting", "stopped", "stopping", "failed"})


def security_group_resource(g: SecurityGroup, attached: list[str]) -> dict[str, Any]:
    details: dict[str, Any] = {"groupId": g.id, "groupName": g.name, "vpcId": g.vpc_id}
    if attached:
        details["attachedTo"] = attached
    return {"resourceType": "SecurityGroup", "securityGroupDetails": details}


def db_resource(d: DbInstance) -> dict[str, Any]:
    """GuardDuty's RDS resource shape."""
    return {
        "resourceType": "RDSDBInstance",
        "rdsDbInstanceDetails": {
            "dbInstanceIdentifier": d.id,
            "dbInstanceArn": d.arn,
            "engine": d.engine,
            "engineVersion": d.engine_version,
            "tags": tag_list(d.tags),
        },
    }


def vpc_resource(vpc_id: str, tags: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"resourceType": "VPC", "vpcDetails": {"vpcId": vpc_id, "tags": tag_list(tags or {})}}


def attachments(region: RegionSnapshot) -> tuple[dict[str, list[str]], list[Unavailable]]:
    """Security group id -> the running things that use it (instances, in-use network
    interfaces, DB instances), and the lists that could not be read."""
    used: dict[str, list[str]] = {}
    gaps: list[Unavailable] = []

    def add(groups: tuple[str, ...], what: str) -> None:
        for g in groups:
            if what not in used.setdefault(g, []):
                used[g].append(what)

    if isinstance(region.instances, Unavailable):
        gaps.append(region.instances)
    else:
        for i in region.instances:
            if i.state in _RUNNING:
                add(i.security_groups, i.id)
    if isinstance(region.network_interfaces, Unavailable):
        gaps.append(region.network_interfaces)
    else:
        for n in region.network_interfaces:
            if n.status == "in-use":
                add(n.security_groups, n.attached_instance or n.id)
    if isinstance(region.db_instances, Unavailable):
        gaps.append(region.db_instances)
    else:
        for d in region.db_instances:
            if d.status not in _DB_GONE:
                add(d.security_groups, d.id)
    return used, gaps


class DatabasePortOpenCheck(Check):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="ec2_database_port_open_to_internet",
        finding_type="Policy:EC2/DatabasePortOpenToInternet",
        severity=HIGH,
        service="EC2",
        title="No security group in use opens a database or cache port to 0.0.0.0/0 or ::/0",
        risk="A database reachable from the whole internet is found by scanners within hours; "
        "with a weak or no password (MongoDB, Redis, Elasticsearch, memcached) its data is "
        "copied, wiped or held to ransom.",
        remediation_cli="aws ec2 revoke-security-group-ingress --group-id SG --ip-permissions "
        "'IpProtocol=tcp,FromPort=PORT,ToPort=PORT,IpRanges=[{CidrIp=0.0.0.0/0}]'",
        remediation_console="EC2 > Security Groups > SG > Inbound rules > Edit inbound rules: "
        "delete the 0.0.0.0/0 and ::/0 rules for the port, allow only the application's "
        "security group or address range > Save rules.",
        needs=frozenset({"ec2", "rds"}),
    )

    def evaluate(self, snapshot: AccountSnapshot) -> list[CheckResult]:
        out: list[CheckResult] = []
        ports = snapshot.config.database_ports
        for region in snapshot.regions:
            if isinstance(region.security_groups, Unavailable):
                out.append(self.skip(snapshot, region.security_groups, region.region))
                continue
            used, gaps = attachments(region)
            for g in region.security_groups:
                open_ports = sorted(
                    {
                        p
                        for rule in g.ingress
                        if _OPEN.intersection(rule.cidrs)
                        for p in ports
                        if rule.covers(p)
                    }
                )
                attached = used.get(g.id, [])
                resource = security_group_resource(g, attached)
                status: Status
                if not open_ports:
                    msg = f"{g.id} ({g.name}): no database port open to the internet"
                    status = "PASS"
                elif attached:
                    status = "FAIL"
                    msg = (
                        f"{g.id} ({g.name}) opens {_ports(open_ports)} to the internet, used by "
                        + ", ".join(attached)
                    )
                elif gaps:
                    status = "FAIL"
                    msg = (
                        f"{g.id} ({g.name}) opens {_ports(open_ports)} to the internet; what uses "
                        f"it is unknown ({gaps[0]})"
                    )
                else:
                    status = "INFO"
                    msg = (
                        f"{g.id} ({g.name}) opens {_ports(open_ports)} to the internet but "
                        "nothing running uses it"
                    )
                out.append(
                    self.result(
                        snapshot, status, region.region, "SecurityGroup", g.id, resource, msg
                    )
                )
        return out


def _ports(ports: list[int]) -> str:
    return ("port " if len(ports) == 1 else "ports ") + ", ".join(str(p) for p in ports)


class RdsPubliclyAccessibleCheck(Check):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="rds_instance_public",
        finding_type="Policy:RDS/InstancePubliclyAccessible",
        severity=HIGH,
        service="RDS",
        title="RDS instances are not publicly accessible",
        risk="A publicly accessible instance has a public DNS name and address; one security "
        "group rule away from the internet.",
        remediation_cli="aws rds modify-db-instance --db-instance-identifier DB "
        "--no-publicly-accessible --apply-immediately",
        remediation_console="RDS > Databases > DB > Modify > Connectivity > Additional "
        "configuration > Not publicly accessible > Continue > Apply immediately.",
        needs=frozenset({"rds"}),
    )

    def evaluate(self, snapshot: AccountSnapshot) -> list[CheckResult]:
        out: list[CheckResult] = []
        for region in snapshot.regions:
            if isinstance(region.db_instances, Unavailable):
                out.append(self.skip(snapshot, region.db_instances, region.region))
                continue
            for d in region.db_instances:
                status: Status = "FAIL" if d.publicly_accessible else "PASS"
                msg = f"{d.id}: {'publicly accessible' if d.publicly_accessible else 'private'}"
                out.append(
                    self.result(
                        snapshot,
                        status,
                        region.region,
                        "RDSDBInstance",
                        d.arn or d.id,
                        db_resource(d),
                        msg,
                    )
                )
        return out


class ProductionSeparationCheck(Check):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="network_production_separation",
        finding_type="Policy:EC2/ProductionSharesNetworkWithNonProduction",
        severity=MEDIUM,
        service="EC2",
        title="Production and non-production resources share no VPC or security group "
        "(by the environment tag)",
        risk="A test or development machine - usually less patched and less watched - that "
        "shares a network or security group with production is a path into it.",
        remediation_cli="aws ec2 modify-instance-attribute --instance-id INSTANCE --groups SG "
        "(separate security groups); move non-production workloads to their own VPC or "
        "account.",
        remediation_console="EC2 > Instances > INSTANCE > Actions > Security > Change "
        "security groups; plan separate VPCs (or accounts) for production.",
        needs=frozenset({"ec2", "rds"}),
    )

    def evaluate(self, snapshot: AccountSnapshot) -> list[CheckResult]:
        cfg = snapshot.config
        out: list[CheckResult] = []
        for region in snapshot.regions:
            members: list[tuple[str, str | None, tuple[str, ...], Mapping[str, str]]] = []
            gap = next(
                (x for x in (region.instances, region.db_instances) if isinstance(x, Unavailable)),
                None,
            )
            if gap is not None:
                out.append(self.skip(snapshot, gap, region.region))
                continue
            assert not isinstance(region.instances, Unavailable)
            assert not isinstance(region.db_instances, Unavailable)
            for i in region.instances:
                if i.state != "terminated":
                    members.append((i.id, i.vpc_id, i.security_groups, i.tags))
            for d in region.db_instances:
                members.append((d.id, d.vpc_id, d.security_groups, d.tags))
            by_vpc: dict[str, dict[str, list[str]]] = {}
            by_sg: dict[str, dict[str, list[str]]] = {}
            for ident, vpc, groups, tags in members:
                env = tags.get(cfg.environment_tag)
                if env is None:
                    continue  # untagged: neither side
                side = "production" if env.strip().lower() in cfg.production_values else "other"
                if vpc:
                    by_vpc.setdefault(vpc, {}).setdefault(side, []).append(ident)
                for g in groups:
                    by_sg.setdefault(g, {}).setdefault(side, []).append(ident)
            for kind, groups_of in (("VPC", by_vpc), ("SecurityGroup", by_sg)):
                for key in sorted(groups_of):
                    sides = groups_of[key]
                    resource = (
                        vpc_resource(key)
                        if kind == "VPC"
                        else {
                            "resourceType": "SecurityGroup",
                            "securityGroupDetails": {"groupId": key},
                        }
                    )
                    verdict: Status
                    if len(sides) > 1:
                        msg = (
                            f"{key} holds production ({', '.join(sides['production'])}) and "
                            f"non-production ({', '.join(sides['other'])}) resources"
                        )
                        verdict = "FAIL"
                    else:
                        (side,) = sides
                        msg = f"{key}: {side if side == 'production' else 'non-production'} only"
                        verdict = "PASS"
                    out.append(
                        self.result(snapshot, verdict, region.region, kind, key, resource, msg)
                    )
        return out


CHECKS: Final[tuple[Check, ...]] = (
    DatabasePortOpenCheck(),
    RdsPubliclyAccessibleCheck(),
    ProductionSeparationCheck(),
)
