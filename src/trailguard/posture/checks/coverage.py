"""Detection coverage: the logs trailguard itself reads - VPC Flow Logs and Route 53
Resolver query logs - are switched on for every VPC."""

from __future__ import annotations

from typing import ClassVar, Final

from trailguard.posture.checks.base import MEDIUM, Check, CheckMeta, CheckResult
from trailguard.posture.checks.network import vpc_resource
from trailguard.posture.model import AccountSnapshot, Unavailable


class VpcFlowLogsCheck(Check):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="vpc_flow_logs",
        finding_type="Policy:EC2/VPCFlowLogsDisabled",
        severity=MEDIUM,
        service="EC2",
        title="Every VPC has an active flow log",
        risk="Without flow logs, port scans, exfiltration and connections to known-bad "
        "addresses in the VPC leave no trace (trailguard's flow-log detections see nothing).",
        remediation_cli="aws ec2 create-flow-logs --resource-type VPC --resource-ids VPC "
        "--traffic-type ALL --log-destination-type s3 --log-destination arn:aws:s3:::BUCKET",
        remediation_console="VPC > Your VPCs > VPC > Flow logs > Create flow log > Filter: "
        "All > destination S3 bucket > Create flow log.",
        needs=frozenset({"ec2"}),
    )

    def evaluate(self, snapshot: AccountSnapshot) -> list[CheckResult]:
        out: list[CheckResult] = []
        for region in snapshot.regions:
            gap = next(
                (x for x in (region.vpcs, region.flow_logs) if isinstance(x, Unavailable)), None
            )
            if gap is not None:
                out.append(self.skip(snapshot, gap, region.region))
                continue
            assert not isinstance(region.vpcs, Unavailable)
            assert not isinstance(region.flow_logs, Unavailable)
            active = {f.resource_id for f in region.flow_logs if f.status == "ACTIVE"}
            for v in region.vpcs:
                ok = v.id in active
                msg = f"{v.id}: {'flow log active' if ok else 'no active flow log'}"
                out.append(
                    self.result(
                        snapshot,
                        "PASS" if ok else "FAIL",
                        region.region,
                        "VPC",
                        v.id,
                        vpc_resource(v.id, v.tags),
                        msg,
                    )
                )
        return out


class VpcResolverQueryLogsCheck(Check):
    meta: ClassVar[CheckMeta] = CheckMeta(
        id="vpc_resolver_query_logs",
        finding_type="Policy:EC2/VPCResolverQueryLoggingDisabled",
        severity=MEDIUM,
        service="Route53Resolver",
        title="Every VPC is associated with a Route 53 Resolver query logging configuration",
        risk="Without Resolver query logs, DNS lookups of malware domains, DNS tunnelling and "
        "DNS rebinding go unseen (trailguard's DNS detections see nothing).",
        remediation_cli="aws route53resolver associate-resolver-query-log-config "
        "--resolver-query-log-config-id CONFIG --resource-id VPC",
        remediation_console="Route 53 > Resolver > Query logging > CONFIG (or Configure query "
        "logging) > Add VPC > choose the VPC > Add.",
        needs=frozenset({"ec2", "route53resolver"}),
    )

    def evaluate(self, snapshot: AccountSnapshot) -> list[CheckResult]:
        out: list[CheckResult] = []
        for region in snapshot.regions:
            gap = next(
                (
                    x
                    for x in (region.vpcs, region.resolver_logged_vpcs)
                    if isinstance(x, Unavailable)
                ),
                None,
            )
            if gap is not None:
                out.append(self.skip(snapshot, gap, region.region))
                continue
            assert not isinstance(region.vpcs, Unavailable)
            assert not isinstance(region.resolver_logged_vpcs, Unavailable)
            for v in region.vpcs:
                ok = v.id in region.resolver_logged_vpcs
                msg = f"{v.id}: {'query logging on' if ok else 'no query logging'}"
                out.append(
                    self.result(
                        snapshot,
                        "PASS" if ok else "FAIL",
                        region.region,
                        "VPC",
                        v.id,
                        vpc_resource(v.id, v.tags),
                        msg,
                    )
                )
        return out


CHECKS: Final[tuple[Check, ...]] = (VpcFlowLogsCheck(), VpcResolverQueryLogsCheck())
