"""The Finding model: severity labels, ids, timestamps and GuardDuty's JSON shape."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from trailguard.findings.model import (
    SCHEMA_VERSION,
    build_finding,
    finding_id,
    iso,
    severity_floor,
    severity_label,
    to_ms,
)

# --- severity ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "label"),
    [
        (1.0, "Low"),
        (3.9, "Low"),
        (3.99, "Low"),
        (4.0, "Medium"),
        (6.9, "Medium"),
        (6.99, "Medium"),
        (7.0, "High"),
        (8.9, "High"),
        (8.99, "High"),
        (9.0, "Critical"),
        (10.0, "Critical"),
    ],
)
def test_severity_label_at_range_boundaries(severity: float, label: str) -> None:
    assert severity_label(severity) == label


@pytest.mark.parametrize(
    ("label", "floor"),
    [
        ("low", 1.0),
        ("medium", 4.0),
        ("high", 7.0),
        ("critical", 9.0),
        ("HIGH", 7.0),
        ("Critical", 9.0),
    ],
)
def test_severity_floor_is_case_insensitive(label: str, floor: float) -> None:
    assert severity_floor(label) == floor


@pytest.mark.parametrize("label", ["low", "medium", "high", "critical"])
def test_severity_floor_has_its_own_label(label: str) -> None:
    assert severity_label(severity_floor(label)).lower() == label


@pytest.mark.parametrize("label", ["", "severe", "hi", " high", "informational", "7"])
def test_severity_floor_rejects_unknown_labels(label: str) -> None:
    with pytest.raises(ValueError, match="low, medium, high, critical") as info:
        severity_floor(label)
    assert repr(label) in str(info.value)


# --- finding_id -------------------------------------------------------------------------

KEY = (
    "Policy:IAMUser/RootCredentialUsage",
    "111122223333",
    "us-east-1",
    "arn:aws:iam::111122223333:root",
    "203.0.113.10",
)


def test_finding_id_is_32_lowercase_hex() -> None:
    fid = finding_id(*KEY)
    assert re.fullmatch(r"[0-9a-f]{32}", fid), fid


def test_finding_id_is_deterministic_across_processes() -> None:
    # ids are stored: they must not depend on the process (e.g. on hash randomisation)
    code = (
        "import sys; from trailguard.findings.model import finding_id; "
        "print(finding_id(*sys.argv[1:]))"
    )
    ids = {
        subprocess.run(
            [sys.executable, "-c", code, *KEY],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=60,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert ids == {finding_id(*KEY)}


@pytest.mark.parametrize("part", range(len(KEY)))
def test_finding_id_differs_when_any_key_part_differs(part: int) -> None:
    changed = list(KEY)
    changed[part] = changed[part] + "x"
    assert finding_id(*changed) != finding_id(*KEY)
    emptied = list(KEY)
    emptied[part] = ""
    assert finding_id(*emptied) != finding_id(*KEY)


def test_finding_id_depends_on_key_order() -> None:
    # resource and actor swapped are a different finding
    t, a, r, res, actor = KEY
    assert finding_id(t, a, r, res, actor) != finding_id(t, a, r, actor, res)


def test_finding_id_accepts_any_text() -> None:
    # lone surrogates can come out of hostile log fields
    assert re.fullmatch(r"[0-9a-f]{32}", finding_id("t", "a", "r", "\ud800", "é\x00"))


def test_finding_id_has_no_separator_collisions() -> None:
    t, a, r = KEY[:3]
    assert finding_id(t, a, r, "i-1\x1fevil", "x") != finding_id(t, a, r, "i-1", "evil\x1fx")


# --- timestamps -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (999, "1970-01-01T00:00:00.999Z"),
        (1_000, "1970-01-01T00:00:01.000Z"),
        (1_793_614_500_000, "2026-11-02T10:15:00.000Z"),
        (1_793_614_500_123, "2026-11-02T10:15:00.123Z"),
        (1_793_614_559_999, "2026-11-02T10:15:59.999Z"),
    ],
)
def test_iso_is_guardduty_format(ms: int, text: str) -> None:
    assert iso(ms) == text


def test_iso_round_trips_every_millisecond_of_a_second() -> None:
    base = 1_793_614_500_000
    for ms in range(base, base + 1_000):
        text = iso(ms)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
        back = datetime.fromisoformat(text.replace("Z", "+00:00"))
        assert (back - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1) == ms


def test_to_ms_of_aware_datetimes() -> None:
    assert to_ms(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert to_ms(datetime(2026, 11, 2, 10, 15, tzinfo=UTC)) == 1_793_614_500_000
    assert to_ms(datetime(2026, 11, 2, 10, 15, 0, 123_000, tzinfo=UTC)) == 1_793_614_500_123
    assert iso(to_ms(datetime(2026, 11, 2, 10, 15, 0, 7_000, tzinfo=UTC))).endswith(".007Z")


def test_to_ms_is_exact() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for ms in (1_079_337_347_472, 2_165_497_250_430, 2_183_226_373_411):
        assert to_ms(epoch + timedelta(milliseconds=ms)) == ms


# --- build_finding ----------------------------------------------------------------------


def stored_hit(**over: Any) -> dict[str, Any]:
    """A hit as the store keeps it (``Hit`` as a dict without its times)."""
    hit: dict[str, Any] = {
        "detection_id": "root_credential_usage",
        "finding_type": "Policy:IAMUser/RootCredentialUsage",
        "severity": 2.0,
        "title": "API CreateAccessKey was invoked using root credentials.",
        "description": "API CreateAccessKey of iam.amazonaws.com was invoked ...",
        "account_id": "111122223333",
        "region": "eu-west-1",
        "resource_type": "AccessKey",
        "resource_key": "arn:aws:iam::111122223333:root",
        "actor_key": "",
        "resource": {
            "resourceType": "AccessKey",
            "accessKeyDetails": {"userName": "Root", "userType": "Root"},
        },
        "action": {"actionType": "AWS_API_CALL", "awsApiCallAction": {"api": "CreateAccessKey"}},
        "event_key": "e1",
        "object": "/logs/a.json",
        "position": "record 0",
        "feature": "CloudTrail",
        "resource_role": "TARGET",
        "additional_info": {"note": "x"},
    }
    hit.update(over)
    return hit


def build(**over: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "fid": "0123456789abcdef0123456789abcdef",
        "latest": stored_hit(),
        "count": 3,
        "first_ms": 1_793_614_500_000,
        "last_ms": 1_793_614_560_250,
        "created_ms": 1_800_000_000_000,
        "updated_ms": 1_800_000_001_000,
        "archived": False,
        "evidence": {
            "firstOccurrence": {"object": "/logs/a.json", "position": "record 0"},
            "latestOccurrence": {"object": "/logs/b.json", "position": "record 4"},
        },
    }
    args.update(over)
    return build_finding(**args)


def test_build_finding_has_guardduty_top_level_keys() -> None:
    f = build()
    for key in (
        "id",
        "arn",
        "accountId",
        "region",
        "partition",
        "schemaVersion",
        "type",
        "title",
        "description",
        "severity",
        "createdAt",
        "updatedAt",
        "resource",
        "service",
    ):
        assert key in f, key
    assert f["id"] == "0123456789abcdef0123456789abcdef"
    assert f["accountId"] == "111122223333"
    assert f["region"] == "eu-west-1"
    assert f["partition"] == "aws"
    assert f["schemaVersion"] == SCHEMA_VERSION
    assert f["type"] == "Policy:IAMUser/RootCredentialUsage"
    assert f["title"] == "API CreateAccessKey was invoked using root credentials."
    assert f["description"].startswith("API CreateAccessKey of iam")
    assert f["severity"] == 2.0
    assert f["severityLabel"] == "Low"
    assert f["createdAt"] == iso(1_800_000_000_000)
    assert f["updatedAt"] == iso(1_800_000_001_000)
    assert f["resource"]["resourceType"] == "AccessKey"
    assert f["resource"]["accessKeyDetails"]["userName"] == "Root"


def test_build_finding_arn_names_region_account_and_id() -> None:
    f = build()
    assert f["arn"] == (
        "arn:aws:trailguard:eu-west-1:111122223333:detector/trailguard/finding/"
        "0123456789abcdef0123456789abcdef"
    )


def test_build_finding_service_block() -> None:
    s = build()["service"]
    for key in (
        "action",
        "count",
        "eventFirstSeen",
        "eventLastSeen",
        "archived",
        "evidence",
        "additionalInfo",
        "featureName",
        "resourceRole",
    ):
        assert key in s, key
    assert s["action"] == {
        "actionType": "AWS_API_CALL",
        "awsApiCallAction": {"api": "CreateAccessKey"},
    }
    assert s["count"] == 3
    assert s["eventFirstSeen"] == "2026-11-02T10:15:00.000Z"
    assert s["eventLastSeen"] == "2026-11-02T10:16:00.250Z"
    assert s["archived"] is False
    assert s["evidence"]["latestOccurrence"] == {"object": "/logs/b.json", "position": "record 4"}
    assert s["additionalInfo"] == {"value": {"note": "x"}, "type": "default"}
    assert s["featureName"] == "CloudTrail"
    assert s["resourceRole"] == "TARGET"


def test_build_finding_archived_and_empty_additional_info() -> None:
    f = build(archived=True, latest=stored_hit(additional_info={}, severity=9.5))
    assert f["service"]["archived"] is True
    assert f["service"]["additionalInfo"] == {"value": {}, "type": "default"}
    assert f["severityLabel"] == "Critical"


def test_build_finding_is_json_serialisable_and_deterministic() -> None:
    assert json.dumps(build(), sort_keys=True) == json.dumps(build(), sort_keys=True)
