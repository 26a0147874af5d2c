"""Exposed databases and log coverage, against EC2, RDS and Route 53 Resolver on the moto
server: PASS and FAIL per check."""

from __future__ import annotations

from typing import Any

from trailguard.posture.model import PostureConfig


def default_vpc(ec2: Any) -> str:
    return str(
        ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    )


def group(ec2: Any, name: str, vpc: str, *permissions: dict[str, Any]) -> str:
    gid = str(ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"])
    if permissions:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=list(permissions))
    return gid


def tcp(port: int, *cidrs: str) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "IpRanges": [{"CidrIp": c} for c in cidrs if ":" not in c],
        "Ipv6Ranges": [{"CidrIpv6": c} for c in cidrs if ":" in c],
    }


def instance(ec2: Any, groups: list[str], env: str | None = None) -> str:
    image = ec2.describe_images()["Images"][0]["ImageId"]
    kw: dict[str, Any] = {}
    if env:
        kw["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": "Environment", "Value": env}]}
        ]
    got = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SecurityGroupIds=groups, **kw)
    return str(got["Instances"][0]["InstanceId"])


def database(rds: Any, name: str, groups: list[str], public: bool = False, **kw: Any) -> str:
    got = rds.create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-real-password",
        AllocatedStorage=20,
        PubliclyAccessible=public,
        VpcSecurityGroupIds=groups,
        **kw,
    )
    return str(got["DBInstance"]["DBInstanceArn"])


def test_database_ports_open_to_the_internet(pz: Any) -> None:
    ec2, rds = pz.client("ec2"), pz.client("rds")
    vpc = default_vpc(ec2)
    open_pg = group(ec2, "open-postgres", vpc, tcp(5432, "0.0.0.0/0"))
    open_all = group(
        ec2, "open-all", vpc, {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
    )
    idle = group(ec2, "idle-mongo", vpc, tcp(27017, "::/0"))
    web = group(ec2, "web", vpc, tcp(443, "0.0.0.0/0"))
    private = group(ec2, "private-pg", vpc, tcp(5432, "10.0.0.0/8"))
    open_mysql = group(ec2, "open-mysql", vpc, tcp(3306, "0.0.0.0/0"))
    box = instance(ec2, [open_pg, web, private])
    instance(ec2, [open_all])
    database(rds, "orders", [open_mysql])
    got = {r.resource_key: r for r in pz.results(pz.snap(), "ec2_database_port_open_to_internet")}
    assert got[open_pg].status == "FAIL" and box in got[open_pg].message
    assert "port 5432" in got[open_pg].message
    assert got[open_all].status == "FAIL"
    assert got[open_mysql].status == "FAIL" and "orders" in got[open_mysql].message
    assert got[idle].status == "INFO"
    assert got[web].status == "PASS"
    assert got[private].status == "PASS"
    details = got[open_pg].resource["securityGroupDetails"]
    assert details["groupId"] == open_pg and box in details["attachedTo"]


def test_database_ports_follow_the_setting(pz: Any) -> None:
    ec2 = pz.client("ec2")
    gid = group(ec2, "open-app", default_vpc(ec2), tcp(8080, "0.0.0.0/0"))
    instance(ec2, [gid])
    snapshot = pz.snap(PostureConfig(database_ports=frozenset({8080})))
    assert pz.verdicts(snapshot, "ec2_database_port_open_to_internet")[gid] == "FAIL"
    assert pz.verdicts(pz.snap(), "ec2_database_port_open_to_internet")[gid] == "PASS"


def test_rds_publicly_accessible(pz: Any) -> None:
    rds = pz.client("rds")
    public = database(rds, "public-db", [], public=True)
    private = database(rds, "private-db", [])
    got = {
        r.resource_key: r
        for r in pz.results(pz.snap(services=frozenset({"rds"})), "rds_instance_public")
    }
    assert {k: r.status for k, r in got.items()} == {public: "FAIL", private: "PASS"}
    details = got[public].resource["rdsDbInstanceDetails"]
    assert (details["dbInstanceIdentifier"], details["engine"]) == ("public-db", "postgres")


def test_production_shares_network_with_non_production(pz: Any) -> None:
    ec2, rds = pz.client("ec2"), pz.client("rds")
    vpc = default_vpc(ec2)
    shared = group(ec2, "shared", vpc)
    prod_only = group(ec2, "prod-only", vpc)
    instance(ec2, [shared, prod_only], env="Production")
    instance(ec2, [shared], env="dev")
    database(rds, "prod-db", [prod_only], Tags=[{"Key": "Environment", "Value": "prod"}])
    instance(ec2, [prod_only])  # untagged: neither side
    got = pz.verdicts(pz.snap(), "network_production_separation")
    assert got == {vpc: "FAIL", shared: "FAIL", prod_only: "PASS"}


def test_production_separation_passes_when_apart(pz: Any) -> None:
    ec2 = pz.client("ec2")
    vpc = default_vpc(ec2)
    other_vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    prod = group(ec2, "prod", vpc)
    dev = group(ec2, "dev", other_vpc)
    instance(ec2, [prod], env="prod")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        SecurityGroupIds=[dev],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Environment", "Value": "test"}]}
        ],
    )
    got = pz.verdicts(pz.snap(), "network_production_separation")
    assert got == {vpc: "PASS", other_vpc: "PASS", prod: "PASS", dev: "PASS"}


def test_flow_logs_and_resolver_query_logs(pz: Any) -> None:
    ec2, resolver = pz.client("ec2"), pz.client("route53resolver")
    logged = default_vpc(ec2)
    dark = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    pz.client("s3").create_bucket(Bucket="network-logs")
    ec2.create_flow_logs(
        ResourceIds=[logged],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination="arn:aws:s3:::network-logs",
    )
    config = resolver.create_resolver_query_log_config(
        Name="dns", DestinationArn="arn:aws:s3:::network-logs", CreatorRequestId="test-1"
    )["ResolverQueryLogConfig"]["Id"]
    resolver.associate_resolver_query_log_config(ResolverQueryLogConfigId=config, ResourceId=logged)
    snapshot = pz.snap(services=frozenset({"ec2", "route53resolver"}))
    expected = {logged: "PASS", dark: "FAIL"}
    assert pz.verdicts(snapshot, "vpc_flow_logs") == expected
    assert pz.verdicts(snapshot, "vpc_resolver_query_logs") == expected
    (r,) = [r for r in pz.results(snapshot, "vpc_flow_logs") if r.status == "FAIL"]
    assert r.resource == {"resourceType": "VPC", "vpcDetails": {"vpcId": dark, "tags": []}}
