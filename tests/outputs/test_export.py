"""Exports: GuardDuty JSON, JSON lines and CSV (spreadsheet-safe)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from trailguard.findings.model import build_finding
from trailguard.outputs.export import CSV_COLUMNS, FORMATS, flat, resource_id, write


def finding(
    fid: str = "0123456789abcdef0123456789abcdef",
    *,
    title: str = "API CreateAccessKey was invoked using root credentials.",
    severity: float = 2.0,
    resource: dict[str, Any] | None = None,
    count: int = 2,
    archived: bool = False,
) -> dict[str, Any]:
    latest = {
        "detection_id": "root_credential_usage",
        "finding_type": "Policy:IAMUser/RootCredentialUsage",
        "severity": severity,
        "title": title,
        "description": "Root credentials were used.",
        "account_id": "111122223333",
        "region": "us-east-1",
        "resource": resource
        or {
            "resourceType": "AccessKey",
            "accessKeyDetails": {
                "accessKeyId": "ASIAEXAMPLEROOT00001",
                "principalId": "111122223333",
                "userName": "Root",
                "userType": "Root",
            },
        },
        "action": {"actionType": "AWS_API_CALL", "awsApiCallAction": {"api": "CreateAccessKey"}},
        "feature": "CloudTrail",
        "resource_role": "TARGET",
        "additional_info": {},
    }
    return build_finding(
        fid=fid,
        latest=latest,
        count=count,
        first_ms=1_793_614_500_000,
        last_ms=1_793_614_560_000,
        created_ms=1_793_700_000_000,
        updated_ms=1_793_700_001_000,
        archived=archived,
        evidence={},
    )


FINDINGS = [
    finding("a" * 32),
    finding(
        "b" * 32,
        title="i-0abc is performing outbound port scans against remote host 198.51.100.7.",
        severity=5.0,
        resource={
            "resourceType": "Instance",
            "instanceDetails": {
                "instanceId": "i-0abc",
                "networkInterfaces": [{"networkInterfaceId": "eni-1"}],
            },
        },
        count=7,
        archived=True,
    ),
]


def export_text(items: list[dict[str, Any]], fmt: str) -> tuple[int, str]:
    buf = io.StringIO(newline="")
    n = write(items, fmt, buf)  # type: ignore[arg-type]
    return n, buf.getvalue()


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_formats() -> None:
    assert FORMATS == ("json", "jsonl", "csv")


# --- JSON -----------------------------------------------------------------------------


def test_json_is_guardduty_findings_document() -> None:
    n, text = export_text(FINDINGS, "json")
    assert n == 2
    assert json.loads(text) == {"Findings": FINDINGS}
    assert text.endswith("\n")


def test_json_of_nothing() -> None:
    n, text = export_text([], "json")
    assert n == 0
    assert json.loads(text) == {"Findings": []}


def test_json_takes_any_iterable() -> None:
    n, text = export_text(iter(FINDINGS), "json")  # type: ignore[arg-type]
    assert n == 2
    assert len(json.loads(text)["Findings"]) == 2


# --- JSON lines -----------------------------------------------------------------------


def test_jsonl_is_one_finding_per_line() -> None:
    tricky = finding("c" * 32, title="line one\nline two\r\n\u2028 end")
    items = [*FINDINGS, tricky]
    n, text = export_text(items, "jsonl")
    assert n == 3
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]
    assert len(lines) == 3
    assert [json.loads(line) for line in lines] == items


def test_jsonl_of_nothing_is_empty() -> None:
    assert export_text([], "jsonl") == (0, "")


# --- CSV ------------------------------------------------------------------------------


def test_csv_header_and_rows() -> None:
    n, text = export_text(FINDINGS, "csv")
    assert n == 2
    table = csv_rows(text)
    assert table[0] == list(CSV_COLUMNS)
    assert len(table) == 3
    first = dict(zip(CSV_COLUMNS, table[1], strict=True))
    assert first["id"] == "a" * 32
    assert first["type"] == "Policy:IAMUser/RootCredentialUsage"
    assert first["severity"] == "2.0"
    assert first["severityLabel"] == "Low"
    assert first["accountId"] == "111122223333"
    assert first["region"] == "us-east-1"
    assert first["resourceType"] == "AccessKey"
    assert first["resourceId"] == "Root"
    assert first["count"] == "2"
    assert first["eventFirstSeen"] == "2026-11-02T10:15:00.000Z"
    assert first["eventLastSeen"] == "2026-11-02T10:16:00.000Z"
    assert first["archived"] == "False"
    second = dict(zip(CSV_COLUMNS, table[2], strict=True))
    assert second["resourceType"] == "Instance"
    assert second["resourceId"] == "i-0abc"
    assert second["severityLabel"] == "Medium"
    assert second["count"] == "7"
    assert second["archived"] == "True"


def test_csv_of_nothing_is_the_header() -> None:
    n, text = export_text([], "csv")
    assert n == 0
    assert csv_rows(text) == [list(CSV_COLUMNS)]


@pytest.mark.parametrize(
    "title",
    [
        'Root used, from "198.51.100.7", again',
        "two\nlines",
        "windows\r\nline end",
        'only "quotes"',
        "a,b,c",
        ",leading comma",
        'trailing quote"',
        "unicode \u00e9\u4e2d\U0001f600",
    ],
)
def test_csv_fields_round_trip(title: str) -> None:
    _, text = export_text([finding(title=title)], "csv")
    table = csv_rows(text)
    assert len(table) == 2
    assert table[1][CSV_COLUMNS.index("title")] == title


@pytest.mark.parametrize(
    "title",
    [
        '=HYPERLINK("http://evil.example","click")',
        "+1+1",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_csv_defuses_formulas(title: str) -> None:
    _, text = export_text([finding(title=title)], "csv")
    cell = csv_rows(text)[1][CSV_COLUMNS.index("title")]
    assert cell == "'" + title


def test_csv_defuses_formulas_in_resource_names() -> None:
    # user names come from the logs too
    evil = finding(
        resource={
            "resourceType": "AccessKey",
            "accessKeyDetails": {"userName": "=cmd|' /C calc'!A0", "principalId": "AIDA"},
        }
    )
    _, text = export_text([evil], "csv")
    assert csv_rows(text)[1][CSV_COLUMNS.index("resourceId")] == "'=cmd|' /C calc'!A0"


def test_csv_leaves_harmless_text_and_numbers_alone() -> None:
    _, text = export_text([finding(title="a = b - c", severity=8.0)], "csv")
    row = dict(zip(CSV_COLUMNS, csv_rows(text)[1], strict=True))
    assert row["title"] == "a = b - c"
    assert row["severity"] == "8.0"


# --- helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ({"resourceType": "Instance", "instanceDetails": {"instanceId": "i-1"}}, "i-1"),
        (
            {
                "resourceType": "Instance",
                "instanceDetails": {
                    "instanceId": None,
                    "networkInterfaces": [{"networkInterfaceId": "eni-9"}],
                },
            },
            "eni-9",
        ),
        ({"resourceType": "Instance", "instanceDetails": {"instanceId": None}}, ""),
        ({"resourceType": "AccessKey", "accessKeyDetails": {"userName": "bob"}}, "bob"),
        ({"resourceType": "AccessKey", "accessKeyDetails": {"principalId": "AIDA1"}}, "AIDA1"),
        ({"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": "AKIA1"}}, "AKIA1"),
        ({"resourceType": "S3Bucket", "s3BucketDetails": [{"name": "logs", "arn": "x"}]}, "logs"),
        ({"resourceType": "SecurityGroup", "securityGroupDetails": {"groupId": "sg-1"}}, "sg-1"),
        ({"resourceType": "IntelList", "intelListDetails": {"name": "tor-exits"}}, "tor-exits"),
        ({"resourceType": "Account", "accountDetails": {"accountId": "1111"}}, "1111"),
        ({}, ""),
    ],
)
def test_resource_id(resource: dict[str, Any], expected: str) -> None:
    assert resource_id({"resource": resource}) == expected


def test_flat_has_exactly_the_csv_columns() -> None:
    assert tuple(flat(FINDINGS[0])) == CSV_COLUMNS


def test_unknown_format_is_refused() -> None:
    buf = io.StringIO()
    with pytest.raises(ValueError, match="xml"):
        write(FINDINGS, "xml", buf)
    assert buf.getvalue() == ""
