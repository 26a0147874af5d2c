"""AWS's published address ranges (``ip-ranges.json``) as a list of ``service region`` entries.

The document (https://ip-ranges.amazonaws.com/ip-ranges.json) has ``prefixes`` (``ip_prefix``,
``region``, ``service``, ``network_border_group``) and ``ipv6_prefixes`` (``ipv6_prefix``, …).
A prefix is listed once per service that uses it, and always also as ``AMAZON``; the specific
services are added first so that, between equal ranges, the look-up names them rather than
``AMAZON``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from trailguard.enrich.entries import ListBuilder, ListEntries
from trailguard.errors import IntelError

AWS_FORMAT: Final = "AWS_IP_RANGES"


def parse_aws_ranges(data: bytes, *, source: str) -> ListEntries:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntelError(f"{source}: not AWS ip-ranges JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("prefixes"), list):
        raise IntelError(f"{source}: not AWS ip-ranges JSON (no 'prefixes' list)")
    items: list[tuple[int, str, str, str]] = []  # (AMAZON last, key, prefix, label)
    for key, field in (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")):
        entries = doc.get(key) or []
        if not isinstance(entries, list):
            raise IntelError(f"{source}: '{key}' is not a list")
        for i, entry in enumerate(entries):
            items.append(_item(entry, key, i, field))
    builder = ListBuilder()
    for n, (_, where, prefix, label) in enumerate(sorted(items, key=lambda t: t[0])):
        builder.lines = n + 1
        try:
            if not prefix:
                raise ValueError(f"no {where.split('[')[0]} prefix")
            builder.add_cidr(prefix, label)
        except ValueError as exc:
            builder.bad(n + 1, f"{where}: {prefix}", str(exc))
    return builder.build()


def _item(entry: Any, key: str, i: int, field: str) -> tuple[int, str, str, str]:
    if not isinstance(entry, dict):
        return (0, f"{key}[{i}]", "", "")
    prefix = entry.get(field)
    service = str(entry.get("service") or "AMAZON")
    region = str(entry.get("region") or "GLOBAL")
    return (
        1 if service == "AMAZON" else 0,
        f"{key}[{i}]",
        prefix if isinstance(prefix, str) else "",
        f"{service} {region}",
    )
