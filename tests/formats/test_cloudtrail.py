"""CloudTrailReader: Records files, JSON lines, JSON arrays and EventBridge -> CLOUDTRAIL.

The records below follow the shapes in AWS's CloudTrail documentation (the
``userIdentity`` examples and the event reference), with the documentation's
example account ids, keys and names.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from trailguard.formats import ObjectReading, read_object
from trailguard.formats.base import ReadContext, ReadOptions
from trailguard.formats.cloudtrail import CloudTrailReader, iter_line_blocks
from trailguard.formats.schema import CLOUDTRAIL
from trailguard.sources.base import SourceObject

Record = dict[str, Any]

ACCOUNT = "123456789012"

ROOT: Record = {
    "type": "Root",
    "principalId": ACCOUNT,
    "arn": f"arn:aws:iam::{ACCOUNT}:root",
    "accountId": ACCOUNT,
    "accessKeyId": "",
    "sessionContext": {
        "attributes": {"creationDate": "2023-07-19T21:11:57Z", "mfaAuthenticated": "true"}
    },
}
IAM_USER: Record = {
    "type": "IAMUser",
    "principalId": "AIDAJ45Q7YFFAREXAMPLE",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/Alice",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
    "userName": "Alice",
}
ASSUMED_ROLE: Record = {
    "type": "AssumedRole",
    "principalId": "AROAIDPPEZS35WEXAMPLE:AssumedRoleSessionName",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/RoleToBeAssumed/MySessionName",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAIOSFODNN7EXAMPLE",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROAIDPPEZS35WEXAMPLE",
            "arn": f"arn:aws:iam::{ACCOUNT}:role/RoleToBeAssumed",
            "accountId": ACCOUNT,
            "userName": "RoleToBeAssumed",
        },
        "webIdFederationData": {},
        "attributes": {"creationDate": "2023-11-02T01:06:28Z", "mfaAuthenticated": "false"},
        "sourceIdentity": "DevUser1",
        "ec2RoleDelivery": "2.0",
    },
}
FEDERATED_USER: Record = {
    "type": "FederatedUser",
    "principalId": f"{ACCOUNT}:Bob",
    "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/Bob",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAI44QH8DHBEXAMPLE",
    "sessionContext": {
        "sessionIssuer": {
            "type": "IAMUser",
            "principalId": "AIDAJ45Q7YFFAREXAMPLE",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/Alice",
            "accountId": ACCOUNT,
            "userName": "Alice",
        },
        "webIdFederationData": {},
        "attributes": {"creationDate": "2023-11-02T01:06:28Z", "mfaAuthenticated": "false"},
    },
}
AWS_ACCOUNT: Record = {
    "type": "AWSAccount",
    "principalId": "AROAEXAMPLEROLE:ExampleSession",
    "accountId": "111122223333",
}
AWS_SERVICE: Record = {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}
IDENTITY_CENTER_USER: Record = {
    "type": "IdentityCenterUser",
    "accountId": ACCOUNT,
    "onBehalfOf": {
        "userId": "544894e8-80c1-707f-60e3-3ba6510dfac1",
        "identityStoreArn": f"arn:aws:identitystore::{ACCOUNT}:identitystore/d-9067642ac7",
    },
    "credentialId": "EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR_Whr1fEXAMPLE",
}
UNKNOWN: Record = {
    "type": "Unknown",
    "principalId": "AIDACKCEVSQ6C2EXAMPLE",
    "accountId": ACCOUNT,
    "userName": "Alice",
}
SAML_USER: Record = {
    "type": "SAMLUser",
    "principalId": "SampleUkh1i4+ExamplexL/jEvs=:SamlExample",
    "userName": "SamlExample",
    "identityProvider": "bdGOnTesti4+ExamplexL/jEvs=",
}

IDENTITIES = {
    "Root": ROOT,
    "IAMUser": IAM_USER,
    "AssumedRole": ASSUMED_ROLE,
    "FederatedUser": FEDERATED_USER,
    "AWSAccount": AWS_ACCOUNT,
    "AWSService": AWS_SERVICE,
    "IdentityCenterUser": IDENTITY_CENTER_USER,
    "Unknown": UNKNOWN,
    "SAMLUser": SAML_USER,
}


def record(n: int = 0, **fields: Any) -> Record:
    """A realistic management event (eventVersion 1.11); ``fields`` override members."""
    rec: Record = {
        "eventVersion": "1.11",
        "userIdentity": IAM_USER,
        "eventTime": f"2024-03-01T12:00:{n % 60:02d}Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetBucketAcl",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.1",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2",
        "requestParameters": {"bucketName": "amzn-s3-demo-bucket", "Host": "s3.amazonaws.com"},
        "responseElements": None,
        "additionalEventData": {"SignatureVersion": "SigV4", "bytesTransferredIn": 0},
        "requestID": f"EXAMPLE{n:09d}",
        "eventID": f"3e8e8a3f-0000-4000-8000-{n:012d}",
        "readOnly": True,
        "resources": [
            {
                "accountId": ACCOUNT,
                "type": "AWS::S3::Bucket",
                "ARN": "arn:aws:s3:::amzn-s3-demo-bucket",
            }
        ],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "s3.amazonaws.com",
        },
    }
    rec.update(fields)
    return rec


def records_file(*records: Record) -> bytes:
    return json.dumps({"Records": list(records)}, separators=(",", ":")).encode()


def json_lines(*records: Record) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def envelope(rec: Record) -> Record:
    """An EventBridge event around a CloudTrail record (as rules deliver them)."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": rec["eventTime"],
        "region": "us-east-1",
        "resources": [],
        "detail": rec,
    }


def make_object(data: bytes, name: str = "s3://bucket/AWSLogs/ct.json") -> SourceObject:
    return SourceObject(name, "v1", len(data), lambda: io.BytesIO(data))


def read(data: bytes, **options: Any) -> tuple[pa.Table, ObjectReading]:
    reading = read_object(make_object(data), ReadOptions(**options))
    batches = list(reading.batches())
    for batch in batches:
        assert batch.schema == CLOUDTRAIL
        assert batch.num_rows <= max(1, reading.options.batch_rows)
    return pa.Table.from_batches(batches, schema=CLOUDTRAIL), reading


def read_direct(data: bytes, chunk: int, **options: Any) -> tuple[pa.Table, ReadContext]:
    ctx = ReadContext("direct", ReadOptions(**options))
    batches = list(CloudTrailReader().read(split(data, chunk), ctx))
    return pa.Table.from_batches(batches, schema=CLOUDTRAIL), ctx


def split(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def rejects(reading: ObjectReading | ReadContext) -> list[tuple[str, str]]:
    return [(r.position, r.reason) for r in reading.rejects]


def at(second: int) -> datetime:
    return datetime(2024, 3, 1, 12, 0, second, tzinfo=UTC)


# --- the Records file ----------------------------------------------------------------------


def test_records_file_columns_follow_the_schema() -> None:
    table, reading = read(records_file(record(0), record(1)))
    assert reading.kind == "cloudtrail"
    assert not reading.failed and not reading.rejects
    assert table.schema == CLOUDTRAIL
    row = table.to_pylist()[0]
    assert row["eventVersion"] == "1.11"
    assert row["eventTime"] == at(0)
    assert row["eventSource"] == "s3.amazonaws.com"
    assert row["eventName"] == "GetBucketAcl"
    assert row["awsRegion"] == "us-east-1"
    assert row["sourceIPAddress"] == "192.0.2.1"
    assert row["readOnly"] is True and row["managementEvent"] is True
    assert row["recipientAccountId"] == ACCOUNT
    assert row["eventCategory"] == "Management"
    assert row["errorCode"] is None and row["sharedEventID"] is None
    assert json.loads(row["requestParameters"]) == record()["requestParameters"]
    assert row["responseElements"] is None  # JSON null -> null
    assert row["serviceEventDetails"] is None  # absent -> null
    assert json.loads(row["resources"])[0]["type"] == "AWS::S3::Bucket"
    assert json.loads(row["tlsDetails"])["tlsVersion"] == "TLSv1.3"
    assert table.column("_pos").to_pylist() == [0, 1]
    assert reading.rows == 2


@pytest.mark.parametrize("kind", list(IDENTITIES))
def test_every_user_identity_type(kind: str) -> None:
    identity = IDENTITIES[kind]
    table, reading = read(records_file(record(userIdentity=identity)))
    assert not reading.rejects
    got = table.column("userIdentity").to_pylist()[0]
    for key in ("type", "principalId", "arn", "accountId", "accessKeyId", "userName"):
        assert got[key] == identity.get(key)
    assert got["invokedBy"] == identity.get("invokedBy")
    assert got["identityProvider"] == identity.get("identityProvider")
    assert got["credentialId"] == identity.get("credentialId")
    context = identity.get("sessionContext")
    if context is None:
        assert got["sessionContext"] is None
    else:
        issuer = context.get("sessionIssuer")
        assert got["sessionContext"]["sessionIssuer"] == issuer
        assert got["sessionContext"]["attributes"] == context["attributes"]
        assert got["sessionContext"]["sourceIdentity"] == context.get("sourceIdentity")
        assert got["sessionContext"]["ec2RoleDelivery"] == context.get("ec2RoleDelivery")
    assert got["onBehalfOf"] == identity.get("onBehalfOf")


def test_user_identity_fields_are_queryable_by_path() -> None:
    recs = [record(i, userIdentity=ident) for i, ident in enumerate(IDENTITIES.values())]
    table, _ = read(records_file(*recs))
    ui = table.column("userIdentity").combine_chunks()
    context = ui.field("sessionContext")
    assert context.field("sessionIssuer").field("userName").to_pylist() == [
        None,
        None,
        "RoleToBeAssumed",
        "Alice",
        None,
        None,
        None,
        None,
        None,
    ]
    assert context.field("attributes").field("mfaAuthenticated").to_pylist()[:4] == [
        "true",
        None,
        "false",
        "false",
    ]
    assert ui.field("onBehalfOf").field("userId").to_pylist()[6] == (
        "544894e8-80c1-707f-60e3-3ba6510dfac1"
    )


def test_missing_user_identity_is_null() -> None:
    rec = record()
    del rec["userIdentity"]
    table, reading = read(records_file(rec, record(1, userIdentity=None)))
    assert not reading.rejects
    assert table.column("userIdentity").to_pylist() == [None, None]


def test_mfa_authenticated_as_a_json_boolean_is_kept_as_text() -> None:
    ident = copy.deepcopy(ASSUMED_ROLE)
    ident["sessionContext"]["attributes"]["mfaAuthenticated"] = True
    table, reading = read(
        records_file(record(userIdentity=ident, sessionCredentialFromConsole=True))
    )
    assert not reading.rejects
    got = table.column("userIdentity").to_pylist()[0]
    assert got["sessionContext"]["attributes"]["mfaAuthenticated"] == "true"
    assert table.column("sessionCredentialFromConsole").to_pylist() == ["true"]


# event versions 1.0 .. 1.11: older records lack the members added later
VERSIONS: dict[str, Record] = {
    "1.0": {"eventVersion": "1.0"},
    "1.01": {"eventVersion": "1.01", "eventID": "e1"},
    "1.02": {"eventVersion": "1.02", "eventID": "e2", "eventType": "AwsApiCall"},
    "1.03": {"eventVersion": "1.03", "eventType": "AwsApiCall", "recipientAccountId": ACCOUNT},
    "1.04": {"eventVersion": "1.04", "errorCode": "AccessDenied", "errorMessage": "denied"},
    "1.05": {"eventVersion": "1.05", "sharedEventID": "8b1f3b2e-0000-4000-8000-000000000001"},
    "1.06": {"eventVersion": "1.06", "vpcEndpointId": "vpce-1a2b3c4d", "apiVersion": "2016-11-15"},
    "1.07": {"eventVersion": "1.07", "managementEvent": False, "readOnly": False},
    "1.08": {"eventVersion": "1.08", "eventCategory": "Data"},
    "1.09": {"eventVersion": "1.09", "sessionCredentialFromConsole": "true"},
    "1.10": {"eventVersion": "1.10", "userIdentity": IDENTITY_CENTER_USER},
    "1.11": {"eventVersion": "1.11", "userIdentity": ASSUMED_ROLE},
}


def versioned(version: str, n: int) -> Record:
    rec: Record = {
        "userIdentity": IAM_USER,
        "eventTime": f"2024-03-01T12:00:{n:02d}Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "console.amazonaws.com",
        "requestParameters": {"instancesSet": {}, "filterSet": {}},
        "responseElements": None,
        "requestID": f"req-{n}",
    }
    rec.update(VERSIONS[version])
    return rec


def test_event_versions_1_0_to_1_11() -> None:
    recs = [versioned(v, n) for n, v in enumerate(VERSIONS)]
    table, reading = read(records_file(*recs))
    assert not reading.rejects
    rows = table.to_pylist()
    assert [r["eventVersion"] for r in rows] == list(VERSIONS)
    by_version = {r["eventVersion"]: r for r in rows}
    assert by_version["1.0"]["eventID"] is None and by_version["1.0"]["eventType"] is None
    assert by_version["1.04"]["errorCode"] == "AccessDenied"
    assert by_version["1.06"]["vpcEndpointId"] == "vpce-1a2b3c4d"
    assert by_version["1.07"]["managementEvent"] is False
    assert by_version["1.08"]["eventCategory"] == "Data"
    assert by_version["1.09"]["sessionCredentialFromConsole"] == "true"
    assert by_version["1.10"]["userIdentity"]["type"] == "IdentityCenterUser"
    assert by_version["1.11"]["userIdentity"]["sessionContext"]["ec2RoleDelivery"] == "2.0"


def test_free_form_members_that_change_type_are_kept_as_json_text() -> None:
    recs = [
        record(0, requestParameters={"policy": {"Statement": [{"Effect": "Allow"}]}}),
        record(1, requestParameters="a plain string"),
        record(2, requestParameters=["a", 1, None], responseElements=True),
        record(3, requestParameters=42, additionalEventData={"x": None}),
        record(4, requestParameters=None),
    ]
    table, reading = read(records_file(*recs))
    assert not reading.rejects
    params = table.column("requestParameters").to_pylist()
    assert [json.loads(p) if p is not None else None for p in params] == [
        {"policy": {"Statement": [{"Effect": "Allow"}]}},
        "a plain string",
        ["a", 1, None],
        42,
        None,
    ]
    assert table.column("responseElements").to_pylist()[2] == "true"


def test_json_text_is_the_documents_own_text() -> None:
    data = (
        b'{"Records": [\n  {"eventTime": "2024-03-01T12:00:00Z", "eventName": "X",\n'
        b'   "requestParameters": { "b" : [1, 2],  "a": "\\u00e9\\n" } }\n]}\n'
    )
    table, reading = read(data)
    assert not reading.rejects
    assert table.column("requestParameters").to_pylist() == ['{ "b" : [1, 2],  "a": "\\u00e9\\n" }']


def test_pretty_printed_records_file_and_bom() -> None:
    data = b"\xef\xbb\xbf" + json.dumps({"Records": [record(0), record(1)]}, indent=4).encode()
    table, reading = read(data)
    assert reading.kind == "cloudtrail" and not reading.rejects
    assert table.column("eventTime").to_pylist() == [at(0), at(1)]


def test_empty_records_file_has_no_rows() -> None:
    table, reading = read(b'{"Records":[]}')
    assert table.num_rows == 0 and not reading.failed and not reading.rejects


# --- JSON lines, arrays, EventBridge -------------------------------------------------------


def test_json_lines_positions_are_line_numbers() -> None:
    data = json_lines(record(0), record(1)) + b"\n   \n" + json_lines(record(2))
    table, reading = read(data)
    assert reading.kind == "cloudtrail" and not reading.rejects
    assert table.column("_pos").to_pylist() == [1, 2, 5]
    assert table.column("eventTime").to_pylist() == [at(0), at(1), at(2)]


def test_json_lines_with_crlf_and_no_final_newline() -> None:
    data = json_lines(record(0)).replace(b"\n", b"\r\n") + json.dumps(record(1)).encode()
    table, reading = read(data)
    assert not reading.rejects
    assert table.column("_pos").to_pylist() == [1, 2]


def test_eventbridge_envelopes_are_unwrapped() -> None:
    data = json_lines(envelope(record(0)), record(1), envelope(record(2, eventName="X")))
    table, reading = read(data)
    assert not reading.rejects
    assert table.column("eventName").to_pylist() == ["GetBucketAcl", "GetBucketAcl", "X"]
    assert table.column("_pos").to_pylist() == [1, 2, 3]
    # the envelope's own "resources" (a list of ARNs) is not the record's
    assert json.loads(table.column("resources").to_pylist()[0])[0]["type"] == "AWS::S3::Bucket"


def test_eventbridge_event_that_is_not_a_cloudtrail_record_is_rejected() -> None:
    other = {
        "version": "0",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "time": "2024-03-01T12:00:00Z",
        "detail": {"instance-id": "i-1234567890abcdef0", "state": "running"},
    }
    table, reading = read(json_lines(record(0), other))
    assert table.num_rows == 1
    assert rejects(reading) == [("line 2", "missing eventTime")]


def test_json_array_of_records_and_envelopes() -> None:
    data = json.dumps([record(0), envelope(record(1)), record(2)], indent=2).encode()
    table, reading = read(data)
    assert reading.kind == "cloudtrail" and not reading.rejects
    assert table.column("_pos").to_pylist() == [0, 1, 2]
    assert table.column("eventTime").to_pylist() == [at(0), at(1), at(2)]


def test_gzip_reads_the_same_rows() -> None:
    data = records_file(*[record(i) for i in range(50)])
    plain, _ = read(data)
    packed, reading = read(gzip.compress(data))
    assert not reading.rejects
    assert packed.equals(plain)
    lines = json_lines(*[record(i) for i in range(50)])
    assert read(gzip.compress(lines))[0].equals(read(lines)[0])


# --- bad input -----------------------------------------------------------------------------


def test_record_with_wrong_types_is_rejected_with_its_index() -> None:
    bad_name = record(1, eventName=12345)
    bad_identity = record(3, userIdentity="arn:aws:iam::123456789012:user/Alice")
    recs = [record(0), bad_name, record(2), bad_identity, record(4)]
    table, reading = read(records_file(*recs))
    assert not reading.failed
    assert table.column("_pos").to_pylist() == [0, 2, 4]
    got = rejects(reading)
    assert [p for p, _ in got] == ["record 1", "record 3"]
    assert "eventName" in got[0][1] and "userIdentity" in got[1][1]


def test_wrong_types_in_json_lines_and_arrays() -> None:
    recs = [record(0), record(1, readOnly="yes"), record(2), ["not", "an", "object"]]
    table, reading = read(json_lines(*recs))  # type: ignore[arg-type]
    assert table.column("_pos").to_pylist() == [1, 3]
    assert [p for p, _ in rejects(reading)] == ["line 2", "line 4"]
    table, reading = read(json.dumps(recs).encode())
    assert table.column("_pos").to_pylist() == [0, 2]
    assert [p for p, _ in rejects(reading)] == ["record 1", "record 3"]


def test_missing_event_time_or_name_is_rejected() -> None:
    no_time = record(1)
    del no_time["eventTime"]
    no_name = record(2)
    del no_name["eventName"]
    table, reading = read(records_file(record(0), no_time, no_name, record(3, eventTime=None)))
    assert table.column("_pos").to_pylist() == [0]
    assert rejects(reading) == [
        ("record 1", "missing eventTime"),
        ("record 2", "missing eventName"),
        ("record 3", "missing eventTime"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T12:00:05Z", datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)),
        ("2024-03-01T12:00:05.250Z", datetime(2024, 3, 1, 12, 0, 5, 250000, tzinfo=UTC)),
        ("2024-03-01T12:00:05.123456789Z", datetime(2024, 3, 1, 12, 0, 5, 123000, tzinfo=UTC)),
        ("2024-03-01T14:00:05+02:00", datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)),
        ("2024-03-01T12:00:05", datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)),
        ("2024-13-01T12:00:05Z", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_event_time_parsing(text: str, expected: datetime | None) -> None:
    table, reading = read(records_file(record(0), record(1, eventTime=text), record(2)))
    if expected is None:
        assert table.column("_pos").to_pylist() == [0, 2]
        assert rejects(reading) == [("record 1", f"bad eventTime: {text!r}")]
    else:
        assert not reading.rejects
        assert table.column("eventTime").to_pylist()[1] == expected


def test_invalid_json_fails_the_object_with_a_byte_position() -> None:
    data = records_file(record(0), record(1))
    where = data.index(b'"eventSource":') + len(b'"eventSource":')
    broken = data[:where] + b":" + data[where:]
    table, reading = read(broken)
    assert table.num_rows == 0
    assert reading.failed
    [(position, reason)] = rejects(reading)
    assert position == f"byte {where}"
    assert reason.startswith("invalid JSON")


def test_truncated_records_file_fails_at_its_end() -> None:
    data = records_file(record(0), record(1))[:-40]
    _, reading = read(data)
    assert reading.failed
    assert rejects(reading) == [(f"byte {len(data)}", "invalid JSON: truncated JSON")]


def test_records_member_that_is_not_a_list_fails_the_object() -> None:
    _, reading = read(b'{"Records": {"eventName": "x"}}')
    assert reading.failed
    assert "not a" in rejects(reading)[0][1]


def test_truncated_json_lines_reject_only_the_bad_lines() -> None:
    good = json_lines(record(0), record(1))
    cut = json.dumps(record(2)).encode()[:57]
    data = good + cut + b"\n" + json_lines(record(3)) + cut  # and cut at the very end
    table, reading = read(data)
    assert not reading.failed
    assert table.column("_pos").to_pylist() == [1, 2, 4]
    assert rejects(reading) == [("line 3", "truncated JSON"), ("line 5", "truncated JSON")]


def test_invalid_utf8_rejects_only_its_record() -> None:
    good = json.dumps(record(0)).encode()
    in_string = json.dumps(record(1, eventName="X\u00e9")).encode().replace(b"\\u00e9", b"\xff")
    in_raw = json.dumps(record(2, requestParameters={"k": "\u00e9"})).encode()
    in_raw = in_raw.replace(b"\\u00e9", b"\xfe")
    data = b'{"Records":[' + b",".join([good, in_string, in_raw]) + b"]}"
    table, reading = read(data)
    assert table.column("_pos").to_pylist() == [0]
    got = rejects(reading)
    assert [p for p, _ in got] == ["record 1", "record 2"]
    assert "UTF-8" in got[0][1] and got[1][1] == "requestParameters is not valid UTF-8"


def test_hostile_strings_are_kept_verbatim() -> None:
    evil = "'; DROP TABLE events; --\x00\x1b[31m\u202e\ud7ff{{7*7}}${jndi:ldap://x}"
    huge = "A" * 3_000_000
    rec = record(0, userAgent=evil, errorMessage=huge, eventName=evil)
    table, reading = read(json_lines(rec) + json_lines(record(1)))
    assert not reading.rejects
    assert table.column("userAgent").to_pylist()[0] == evil
    assert table.column("eventName").to_pylist()[0] == evil
    assert table.column("errorMessage").to_pylist()[0] == huge


def test_reject_reasons_do_not_carry_hostile_text_verbatim() -> None:
    evil_time = "\n\x1b[2J" + "9" * 10_000
    _, reading = read(records_file(record(0, eventTime=evil_time)))
    [(_, reason)] = rejects(reading)
    assert "\n" not in reason and "\x1b" not in reason
    assert len(reason) < 200


def test_over_long_line_is_rejected_and_skipped() -> None:
    ctx = ReadContext("x", ReadOptions())
    data = b"short 1\n" + b"x" * 100 + b"\nshort 3\nshort 4"
    blocks = list(iter_line_blocks(split(data, 7), ctx, max_line=50))
    text = b"".join(block for _, block, _ in blocks)
    assert text == b"short 1\nshort 3\nshort 4"
    assert [(r.position, r.reason) for r in ctx.rejects] == [
        ("line 2", "line longer than 50 bytes")
    ]
    # line numbers still count the skipped line
    lines = [n for start, block, _ in blocks for n, _ in enumerate(block.splitlines(), start)]
    assert lines == [1, 3, 4]
    assert sum(count for _, _, count in blocks) == 3


# --- digest and insight files --------------------------------------------------------------


DIGEST_PREFIX = f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/03/01"
DIGEST = {
    "awsAccountId": ACCOUNT,
    "digestStartTime": "2024-03-01T11:00:00Z",
    "digestEndTime": "2024-03-01T12:00:00Z",
    "digestS3Bucket": "amzn-s3-demo-bucket",
    "digestS3Object": f"{DIGEST_PREFIX}/x.json.gz",
    "digestPublicKeyFingerprint": "7d8b9bd3f2a3b8e1d1b2f6f1d8c6a9e5",
    "digestSignatureAlgorithm": "SHA256withRSA",
    "newestEventTime": "2024-03-01T11:59:59Z",
    "oldestEventTime": "2024-03-01T11:00:01Z",
    "previousDigestS3Bucket": "amzn-s3-demo-bucket",
    "previousDigestS3Object": f"{DIGEST_PREFIX}/w.json.gz",
    "previousDigestHashValue": "a" * 64,
    "previousDigestHashAlgorithm": "SHA-256",
    "previousDigestSignature": "b" * 512,
    "logFiles": [
        {
            "s3Bucket": "amzn-s3-demo-bucket",
            "s3Object": "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/y.json.gz",
            "hashValue": "c" * 64,
            "hashAlgorithm": "SHA-256",
            "newestEventTime": "2024-03-01T11:59:59Z",
            "oldestEventTime": "2024-03-01T11:00:01Z",
        }
    ],
}

INSIGHT = {
    "Records": [
        {
            "eventVersion": "1.07",
            "eventTime": "2024-03-01T12:00:00Z",
            "awsRegion": "us-east-1",
            "eventID": "33d0d4a4-0000-4000-8000-000000000000",
            "eventType": "AwsCloudTrailInsight",
            "recipientAccountId": ACCOUNT,
            "sharedEventID": "12edc982-0000-4000-8000-000000000000",
            "insightDetails": {
                "state": "Start",
                "eventSource": "ssm.amazonaws.com",
                "eventName": "UpdateInstanceAssociationStatus",
                "insightType": "ApiCallRateInsight",
                "insightContext": {"statistics": {"baseline": {"average": 0.0}}},
            },
            "eventCategory": "Insight",
        }
    ]
}


@pytest.mark.parametrize(("doc", "kind"), [(DIGEST, "digest"), (INSIGHT, "insight")])
def test_digest_and_insight_files_are_not_read_as_logs(doc: Record, kind: str) -> None:
    data = json.dumps(doc).encode()
    for payload in (data, gzip.compress(data)):
        table, reading = read(payload)
        assert reading.kind == kind
        assert table.num_rows == 0 and reading.rows == 0
        assert not reading.failed and not reading.rejects


# --- batch and chunk sizes -----------------------------------------------------------------


def sample_inputs() -> dict[str, bytes]:
    recs = [record(i, userIdentity=list(IDENTITIES.values())[i % 9]) for i in range(40)]
    recs[7] = record(7, eventName=7)  # rejected wherever it is
    recs[20] = record(20, eventTime="nope")
    return {
        "records": records_file(*recs),
        "lines": json_lines(*recs[:30]) + b"\n" + json_lines(*map(envelope, recs[30:])),
        "array": json.dumps(recs, indent=1).encode(),
    }


@pytest.mark.parametrize("shape", ["records", "lines", "array"])
def test_tiny_batches_and_tiny_chunks_give_identical_rows(shape: str) -> None:
    data = sample_inputs()[shape]
    whole, reading = read(data)
    assert whole.num_rows == 38 and len(reading.rejects) == 2
    for batch_rows in (1, 3, 64):
        table, small = read(data, batch_rows=batch_rows)
        assert table.equals(whole)
        assert rejects(small) == rejects(reading)
    for chunk in (1, 5, 4096):
        table, ctx = read_direct(data, chunk, batch_rows=7)
        assert table.equals(whole)
        assert [(r.position, r.reason) for r in ctx.rejects] == rejects(reading)


def test_batches_are_full_up_to_batch_rows() -> None:
    data = records_file(*[record(i) for i in range(1300)])
    reading = read_object(make_object(data), ReadOptions(batch_rows=1000))
    sizes = [b.num_rows for b in reading.batches()]
    assert sizes == [1000, 300]
    reading = read_object(make_object(json_lines(*[record(i) for i in range(1300)])))
    assert [b.num_rows for b in reading.batches()] == [1300]


# --- the fast path for Records files and its fallback --------------------------------------


def nested_separator(n: int) -> Record:
    """A record whose requestParameters holds the text CloudTrail writes between records."""
    return record(n, requestParameters={"events": [{"a": 1}, {"eventVersion": "1.0"}]})


def reordered(n: int) -> Record:
    """A record whose first member is not eventVersion (not CloudTrail's own order)."""
    rec = record(n)
    return {"eventTime": rec.pop("eventTime"), **rec}


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {5: nested_separator(5)},
        {5: nested_separator(5), 6: nested_separator(6), 30: nested_separator(30)},
        {12: record(12, eventName=["x"])},
        {3: reordered(3), 4: reordered(4)},
        {0: nested_separator(0), 39: record(39, userIdentity=7)},
    ],
)
def test_fast_groups_agree_with_the_robust_method(
    extra: dict[int, Record], monkeypatch: pytest.MonkeyPatch
) -> None:
    from trailguard.formats import cloudtrail

    recs = [extra.get(i, record(i)) for i in range(40)]
    data = records_file(*recs)
    for group_bytes in (1, 2_000, 7_000, 1 << 20):
        monkeypatch.setattr(cloudtrail, "_GROUP_BYTES", group_bytes)
        fast, fast_reading = read(data, batch_rows=16)
        monkeypatch.setattr(cloudtrail, "_FAST_SEP", b"\x00never")  # forces the robust method
        robust, robust_reading = read(data, batch_rows=16)
        monkeypatch.undo()
        assert fast.equals(robust)
        assert rejects(fast_reading) == rejects(robust_reading)
        assert fast.num_rows + len(fast_reading.rejects) == 40


def test_invalid_json_after_good_groups_still_fails_with_a_position(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trailguard.formats import cloudtrail

    monkeypatch.setattr(cloudtrail, "_GROUP_BYTES", 2_000)
    data = records_file(*[record(i) for i in range(20)])
    where = data.rindex(b'"eventSource":') + len(b'"eventSource":')
    table, reading = read(data[:where] + b"#" + data[where:])
    assert reading.failed
    assert rejects(reading)[-1][0] == f"byte {where}"
    # the groups before the bad one were read (batches already yielded stay valid)
    assert table.num_rows < 20
    assert table.column("_pos").to_pylist() == list(range(table.num_rows))


def test_bom_split_across_chunks_in_json_lines() -> None:
    data = b"\xef\xbb\xbf" + json_lines(record(0), record(1))
    for chunk in (1, 2, 3, 4, 1 << 20):
        table, ctx = read_direct(data, chunk)
        assert not ctx.rejects
        assert table.column("_pos").to_pylist() == [1, 2]


def test_batch_rows_below_one_still_reads() -> None:
    table, reading = read(records_file(record(0), record(1)), batch_rows=0)
    assert table.num_rows == 2 and not reading.rejects
