"""Export findings as GuardDuty JSON, JSON lines or CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, Final, Literal, TextIO

ExportFormat = Literal["json", "jsonl", "csv"]
FORMATS: Final[tuple[ExportFormat, ...]] = ("json", "jsonl", "csv")

CSV_COLUMNS: Final = (
    "id",
    "type",
    "severity",
    "severityLabel",
    "title",
    "accountId",
    "region",
    "resourceType",
    "resourceId",
    "count",
    "eventFirstSeen",
    "eventLastSeen",
    "archived",
    "createdAt",
    "updatedAt",
)
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


#: the fields that name a resource, most telling first, whatever its type
_NAME_FIELDS = (
    "instanceId",
    "networkInterfaceId",
    "userName",
    "principalId",
    "accessKeyId",
    "name",
    "dbInstanceIdentifier",
    "groupId",
    "vpcId",
    "trailArn",
    "arn",
    "subject",
    "accountId",
)


def resource_id(f: dict[str, Any]) -> str:
    """A short name for the finding's resource (instance, user, bucket, group, trail, ...)."""
    r = f.get("resource") or {}
    details: list[dict[str, Any]] = []
    for key, value in r.items():
        if key == "resourceType":
            continue
        for d in value if isinstance(value, list) else [value]:
            if isinstance(d, dict):
                details.append(d)
                nics = d.get("networkInterfaces")
                if isinstance(nics, list):
                    details.extend(n for n in nics if isinstance(n, dict))
    for field in _NAME_FIELDS:
        for d in details:
            value = d.get(field)
            if value:
                return str(value)
    return ""


def flat(f: dict[str, Any]) -> dict[str, Any]:
    s = f.get("service") or {}
    return {
        "id": f["id"],
        "type": f["type"],
        "severity": f["severity"],
        "severityLabel": f.get("severityLabel"),
        "title": f["title"],
        "accountId": f["accountId"],
        "region": f["region"],
        "resourceType": (f.get("resource") or {}).get("resourceType"),
        "resourceId": resource_id(f),
        "count": s.get("count"),
        "eventFirstSeen": s.get("eventFirstSeen"),
        "eventLastSeen": s.get("eventLastSeen"),
        "archived": s.get("archived"),
        "createdAt": f.get("createdAt"),
        "updatedAt": f.get("updatedAt"),
    }


def _cell(value: Any) -> Any:
    # log fields are attacker-controlled: keep spreadsheets from running them as formulas
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write(findings: Iterable[dict[str, Any]], fmt: str, out: TextIO) -> int:
    """Write findings to ``out``; returns how many were written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    n = 0
    if fmt == "json":
        items = list(findings)
        json.dump({"Findings": items}, out, indent=2, sort_keys=True)
        out.write("\n")
        return len(items)
    if fmt == "jsonl":
        for f in findings:
            out.write(json.dumps(f, sort_keys=True) + "\n")
            n += 1
        return n
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for f in findings:
        writer.writerow({k: _cell(v) for k, v in flat(f).items()})
        n += 1
    return n
