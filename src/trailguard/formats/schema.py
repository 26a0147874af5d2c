"""The normalised schemas: one Arrow schema per log type, declared once, here.

Every reader produces record batches of exactly one of these schemas (all
columns present, missing values null), and every later stage reads columns by
these names.  Each schema ends with ``_pos``: where the row came from inside its
object (1-based line number for line formats, 0-based record index for
CloudTrail ``Records`` files and JSON arrays).

Field names follow the logs' own spelling where it is SQL-friendly
(CloudTrail's camelCase, Resolver's snake_case).  VPC flow log fields are
written with dashes by AWS (``account-id``) and with underscores here
(``account_id``); :data:`FLOW_FIELD_NAMES` maps one to the other.

CloudTrail's ``userIdentity`` is a struct (so ``userIdentity.arn`` and
``userIdentity.sessionContext.sessionIssuer.userName`` work in SQL as written);
the free-form members whose shape changes from call to call
(``requestParameters``, ``responseElements``, ``additionalEventData``,
``resources``, ``serviceEventDetails``, ``tlsDetails``) are kept as their JSON
text, queried with DuckDB's JSON functions.
"""

from __future__ import annotations

from typing import Final, Literal

import pyarrow as pa

LogType = Literal["cloudtrail", "vpcflow", "dns"]
LOG_TYPES: Final[tuple[LogType, ...]] = ("cloudtrail", "vpcflow", "dns")

POS: Final = "_pos"
_TS_MS = pa.timestamp("ms", tz="UTC")
_TS_S = pa.timestamp("s", tz="UTC")
_S = pa.string()

SESSION_ISSUER = pa.struct(
    [
        ("type", _S),
        ("principalId", _S),
        ("arn", _S),
        ("accountId", _S),
        ("userName", _S),
    ]
)
SESSION_ATTRIBUTES = pa.struct([("creationDate", _S), ("mfaAuthenticated", _S)])
SESSION_CONTEXT = pa.struct(
    [
        ("sessionIssuer", SESSION_ISSUER),
        ("attributes", SESSION_ATTRIBUTES),
        ("sourceIdentity", _S),
        ("ec2RoleDelivery", _S),
    ]
)
ON_BEHALF_OF = pa.struct([("userId", _S), ("identityStoreArn", _S)])
USER_IDENTITY = pa.struct(
    [
        ("type", _S),
        ("principalId", _S),
        ("arn", _S),
        ("accountId", _S),
        ("accessKeyId", _S),
        ("userName", _S),
        ("invokedBy", _S),
        ("identityProvider", _S),
        ("credentialId", _S),
        ("sessionContext", SESSION_CONTEXT),
        ("onBehalfOf", ON_BEHALF_OF),
    ]
)

#: JSON-text columns of CloudTrail (their members change type between records).
CLOUDTRAIL_JSON_FIELDS: Final = (
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "resources",
    "serviceEventDetails",
    "tlsDetails",
)

CLOUDTRAIL: Final = pa.schema(
    [
        ("eventVersion", _S),
        ("eventTime", _TS_MS),
        ("eventSource", _S),
        ("eventName", _S),
        ("awsRegion", _S),
        ("sourceIPAddress", _S),
        ("userAgent", _S),
        ("errorCode", _S),
        ("errorMessage", _S),
        ("requestID", _S),
        ("eventID", _S),
        ("eventType", _S),
        ("eventCategory", _S),
        ("readOnly", pa.bool_()),
        ("managementEvent", pa.bool_()),
        ("recipientAccountId", _S),
        ("sharedEventID", _S),
        ("vpcEndpointId", _S),
        ("apiVersion", _S),
        ("sessionCredentialFromConsole", _S),
        ("userIdentity", USER_IDENTITY),
        *[(name, _S) for name in CLOUDTRAIL_JSON_FIELDS],
        (POS, pa.int64()),
    ]
)

_I32 = pa.int32()
_I64 = pa.int64()

#: Every VPC / Transit Gateway flow log field (versions 2-8), AWS name -> (column, type).
FLOW_FIELDS: Final[dict[str, tuple[str, pa.DataType]]] = {
    "version": ("version", _I32),
    "account-id": ("account_id", _S),
    "interface-id": ("interface_id", _S),
    "srcaddr": ("srcaddr", _S),
    "dstaddr": ("dstaddr", _S),
    "srcport": ("srcport", _I32),
    "dstport": ("dstport", _I32),
    "protocol": ("protocol", _I32),
    "packets": ("packets", _I64),
    "bytes": ("bytes", _I64),
    "start": ("start", _TS_S),
    "end": ("end", _TS_S),
    "action": ("action", _S),
    "log-status": ("log_status", _S),
    # version 3
    "vpc-id": ("vpc_id", _S),
    "subnet-id": ("subnet_id", _S),
    "instance-id": ("instance_id", _S),
    "tcp-flags": ("tcp_flags", _I32),
    "type": ("type", _S),
    "pkt-srcaddr": ("pkt_srcaddr", _S),
    "pkt-dstaddr": ("pkt_dstaddr", _S),
    # version 4
    "region": ("region", _S),
    "az-id": ("az_id", _S),
    "sublocation-type": ("sublocation_type", _S),
    "sublocation-id": ("sublocation_id", _S),
    # version 5
    "pkt-src-aws-service": ("pkt_src_aws_service", _S),
    "pkt-dst-aws-service": ("pkt_dst_aws_service", _S),
    "flow-direction": ("flow_direction", _S),
    "traffic-path": ("traffic_path", _I32),
    # version 7 (ECS)
    "ecs-cluster-arn": ("ecs_cluster_arn", _S),
    "ecs-cluster-name": ("ecs_cluster_name", _S),
    "ecs-container-instance-arn": ("ecs_container_instance_arn", _S),
    "ecs-container-instance-id": ("ecs_container_instance_id", _S),
    "ecs-container-id": ("ecs_container_id", _S),
    "ecs-second-container-id": ("ecs_second_container_id", _S),
    "ecs-service-name": ("ecs_service_name", _S),
    "ecs-task-definition-arn": ("ecs_task_definition_arn", _S),
    "ecs-task-arn": ("ecs_task_arn", _S),
    "ecs-task-id": ("ecs_task_id", _S),
    # version 8
    "reject-reason": ("reject_reason", _S),
    # Transit Gateway flow logs
    "resource-type": ("resource_type", _S),
    "tgw-id": ("tgw_id", _S),
    "tgw-attachment-id": ("tgw_attachment_id", _S),
    "tgw-src-vpc-account-id": ("tgw_src_vpc_account_id", _S),
    "tgw-dst-vpc-account-id": ("tgw_dst_vpc_account_id", _S),
    "tgw-src-vpc-id": ("tgw_src_vpc_id", _S),
    "tgw-dst-vpc-id": ("tgw_dst_vpc_id", _S),
    "tgw-src-subnet-id": ("tgw_src_subnet_id", _S),
    "tgw-dst-subnet-id": ("tgw_dst_subnet_id", _S),
    "tgw-src-eni": ("tgw_src_eni", _S),
    "tgw-dst-eni": ("tgw_dst_eni", _S),
    "tgw-src-az-id": ("tgw_src_az_id", _S),
    "tgw-dst-az-id": ("tgw_dst_az_id", _S),
    "tgw-pair-attachment-id": ("tgw_pair_attachment_id", _S),
    "packets-lost-no-route": ("packets_lost_no_route", _I64),
    "packets-lost-blackhole": ("packets_lost_blackhole", _I64),
    "packets-lost-mtu-exceeded": ("packets_lost_mtu_exceeded", _I64),
    "packets-lost-ttl-expired": ("packets_lost_ttl_expired", _I64),
}
FLOW_FIELD_NAMES: Final = {aws: col for aws, (col, _) in FLOW_FIELDS.items()}

#: The default (version 2) format, in order.
FLOW_DEFAULT_FORMAT: Final = (
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
)

VPCFLOW: Final = pa.schema([(col, typ) for col, typ in FLOW_FIELDS.values()] + [(POS, pa.int64())])

DNS_ANSWER = pa.struct([("Rdata", _S), ("Type", _S), ("Class", _S)])
DNS_SRCIDS = pa.struct(
    [("instance", _S), ("resolver_endpoint", _S), ("resolver_network_interface", _S)]
)

DNS: Final = pa.schema(
    [
        ("version", _S),
        ("account_id", _S),
        ("region", _S),
        ("vpc_id", _S),
        ("query_timestamp", _TS_MS),
        ("query_name", _S),
        ("query_type", _S),
        ("query_class", _S),
        ("rcode", _S),
        ("answers", pa.list_(DNS_ANSWER)),
        ("srcaddr", _S),
        ("srcport", _I32),
        ("transport", _S),
        ("srcids", DNS_SRCIDS),
        ("firewall_rule_action", _S),
        ("firewall_rule_group_id", _S),
        ("firewall_domain_list_id", _S),
        (POS, pa.int64()),
    ]
)

SCHEMAS: Final[dict[LogType, pa.Schema]] = {
    "cloudtrail": CLOUDTRAIL,
    "vpcflow": VPCFLOW,
    "dns": DNS,
}

#: The column holding each log type's event time (windows and first/last seen use it).
TIME_COLUMN: Final[dict[LogType, str]] = {
    "cloudtrail": "eventTime",
    "vpcflow": "start",
    "dns": "query_timestamp",
}
