"""Tell what an object holds from its first decompressed bytes, never from its name."""

from __future__ import annotations

import re
from typing import Final, Literal

Kind = Literal["cloudtrail", "vpcflow", "dns", "digest", "insight", "empty", "unknown"]

SNIFF_BYTES: Final = 64 * 1024
_BOM: Final = b"\xef\xbb\xbf"
_RECORDS = re.compile(rb'^\{\s*"Records"\s*:')
_FLOW_TOKEN = re.compile(rb"^[A-Za-z0-9\-_.:/${}]+$")


def sniff(head: bytes) -> Kind:
    """Classify an object from (up to) its first :data:`SNIFF_BYTES` decompressed bytes."""
    text = head[len(_BOM) :] if head.startswith(_BOM) else head
    text = text.lstrip()
    if not text:
        return "empty"
    if text[:1] == b"{":
        if _RECORDS.match(text):
            if b'"AwsCloudTrailInsight"' in text or b'"insightDetails"' in text:
                return "insight"
            return "cloudtrail"
        if b'"digestStartTime"' in text and b'"logFiles"' in text:
            return "digest"
        first = text.split(b"\n", 1)[0]
        if b'"query_name"' in first:
            return "dns"
        if b'"eventName"' in first or b'"eventVersion"' in first or b'"detail-type"' in first:
            return "cloudtrail"
        return "unknown"
    if text[:1] == b"[":
        return "cloudtrail"
    first = text.split(b"\n", 1)[0].strip()
    tokens = first.split()
    if len(tokens) >= 2 and all(_FLOW_TOKEN.match(t) for t in tokens):
        return "vpcflow"
    return "unknown"
