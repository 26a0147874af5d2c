"""How bucket policies are read as public or not: ``NotPrincipal`` in an Allow,
conditions that look restrictive but are not (wildcards, ``ForAllValues:``, internet-wide
IP ranges) and those that really narrow "anyone". Unit tests over ``public_statements``,
a snapshot through ``s3_bucket_public_grant``, and the moto server end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from trailguard.posture.checks.s3 import S3BucketPublicGrantCheck, public_statements
from trailguard.posture.model import AccountSnapshot, Bucket, PostureConfig

S3 = frozenset({"s3", "s3control"})


def policy(condition: dict[str, Any] | None = None, **principal: Any) -> dict[str, Any]:
    st: dict[str, Any] = {
        "Sid": "S1",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/*",
        **(principal or {"Principal": "*"}),
    }
    if condition:
        st["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [st]}


def cond(op: str, key: str, value: Any) -> dict[str, Any]:
    return {op: {key: value}}


NOT_PRINCIPAL = {"NotPrincipal": {"AWS": "arn:aws:iam::111122223333:role/x"}}

FAIL_CASES = {
    "notprincipal": policy(**NOT_PRINCIPAL),
    "notprincipal-wildcard-org": policy(
        cond("StringLike", "aws:PrincipalOrgID", "o-*"), **NOT_PRINCIPAL
    ),
    "like-any-account-arn": policy(cond("StringLike", "aws:PrincipalArn", "arn:aws:iam::*:*")),
    "arnlike-any-source": policy(cond("ArnLike", "aws:SourceArn", "arn:aws:*")),
    "arnlike-bucket-name-prefix": policy(cond("ArnLike", "aws:SourceArn", "arn:aws:s3:::logs*")),
    "like-any-org": policy(cond("StringLike", "aws:PrincipalOrgID", "o-*")),
    "like-org-id-prefix": policy(cond("StringLike", "aws:PrincipalOrgID", "o-abc*")),
    "like-single-char": policy(cond("StringLike", "aws:SourceAccount", "11112222333?")),
    "like-any-org-path": policy(cond("ForAnyValue:StringLike", "aws:PrincipalOrgPaths", "o-*")),
    "one-open-value-of-two": policy(
        cond("StringLike", "aws:PrincipalAccount", ["111122223333", "*"])
    ),
    "forallvalues-org": policy(cond("ForAllValues:StringEquals", "aws:PrincipalOrgID", "o-abc")),
    "forallvalues-lowercase": policy(cond("forallvalues:StringEquals", "aws:SourceVpce", "vpce-1")),
    "ip-two-halves": policy(cond("IpAddress", "aws:SourceIp", ["0.0.0.0/1", "128.0.0.0/1"])),
    "ip-slash-8": policy(cond("IpAddress", "aws:SourceIp", "52.0.0.0/8")),
    "ip-union-of-slash-9s": policy(
        cond("IpAddress", "aws:SourceIp", ["52.0.0.0/9", "52.128.0.0/9"])
    ),
    "ip-all": policy(cond("IpAddress", "aws:SourceIp", "0.0.0.0/0")),
    "ipv6-all": policy(cond("IpAddress", "aws:SourceIp", ["::/1", "8000::/1"])),
    "ipv6-slash-8": policy(cond("IpAddress", "aws:SourceIp", "2000::/8")),
    "ip-narrow-v4-open-v6": policy(cond("IpAddress", "aws:SourceIp", ["203.0.113.0/24", "::/0"])),
    "ip-not-a-range": policy(cond("IpAddress", "aws:SourceIp", "*")),
}

PASS_CASES = {
    "named-principal": policy(Principal={"AWS": "arn:aws:iam::111122223333:root"}),
    "deny-notprincipal": {
        "Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}}]
    },
    "notprincipal-vpce": policy(cond("StringEquals", "aws:SourceVpce", "vpce-1"), **NOT_PRINCIPAL),
    "like-account-role-arn": policy(
        cond("StringLike", "aws:PrincipalArn", "arn:aws:iam::111122223333:role/*")
    ),
    "arnlike-account-any-resource": policy(
        cond("ArnLike", "aws:SourceArn", "arn:aws:cloudtrail:us-east-1:111122223333:trail/*")
    ),
    "arnlike-bucket-objects": policy(cond("ArnLike", "aws:SourceArn", "arn:aws:s3:::logs/*")),
    "equals-org": policy(cond("StringEquals", "aws:PrincipalOrgID", "o-abc")),
    "like-org-path-in-org": policy(
        cond("ForAnyValue:StringLike", "aws:PrincipalOrgPaths", "o-abc123/r-ab12/ou-*")
    ),
    "like-userid-of-role": policy(cond("StringLike", "aws:userid", "AROAEXAMPLEID:*")),
    "forallvalues-and-positive": policy(
        {
            "ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-abc"},
            "StringEquals": {"aws:PrincipalOrgID": "o-abc"},
        }
    ),
    "ip-slash-9": policy(cond("IpAddress", "aws:SourceIp", "52.0.0.0/9")),
    "ip-several-narrow": policy(
        cond("IpAddress", "aws:SourceIp", ["203.0.113.0/24", "198.51.100.0/24", "10.0.0.0/9"])
    ),
    "ipv6-slash-9": policy(cond("IpAddress", "aws:SourceIp", "2000::/9")),
    "ipv4-and-ipv6-narrow": policy(
        cond("IpAddress", "aws:SourceIp", ["203.0.113.0/24", "2001:db8::/32"])
    ),
}


@pytest.mark.parametrize("name", sorted(FAIL_CASES))
def test_public_statement_fail(name: str) -> None:
    assert public_statements(FAIL_CASES[name]) == ["S1"]


@pytest.mark.parametrize("name", sorted(PASS_CASES))
def test_public_statement_pass(name: str) -> None:
    assert public_statements(PASS_CASES[name]) == []


def bucket(name: str, pol: dict[str, Any]) -> Bucket:
    return Bucket(
        name, "us-east-1", None, {}, "Enabled", False, (), None, pol, (), ("AES256",), None
    )


def test_public_grant_check_over_snapshot() -> None:
    cases = {f"fail-{n}": p for n, p in FAIL_CASES.items()}
    cases |= {f"pass-{n}": p for n, p in PASS_CASES.items()}
    buckets = tuple(bucket(n, p) for n, p in cases.items())
    snap = AccountSnapshot(
        "123456789012", datetime(2026, 6, 1, tzinfo=UTC), PostureConfig(), (), buckets, None, ()
    )
    got = {r.resource_key: r for r in S3BucketPublicGrantCheck().evaluate(snap)}
    assert {k: r.status for k, r in got.items()} == {
        n: "FAIL" if n.startswith("fail-") else "PASS" for n in cases
    }
    assert "bucket policy S1 allows anyone" in got["fail-notprincipal"].message


def test_public_grant_on_moto(pz: Any) -> None:
    s3 = pz.client("s3")
    for name in ("notprincipal", "like-any-account-arn", "forallvalues-org", "ip-two-halves"):
        s3.create_bucket(Bucket=name)
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(FAIL_CASES[name]))
    for name in ("like-account-role-arn", "ip-slash-9"):
        s3.create_bucket(Bucket=name)
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(PASS_CASES[name]))
    assert pz.verdicts(pz.snap(services=S3), "s3_bucket_public_grant") == {
        "notprincipal": "FAIL",
        "like-any-account-arn": "FAIL",
        "forallvalues-org": "FAIL",
        "ip-two-halves": "FAIL",
        "like-account-role-arn": "PASS",
        "ip-slash-9": "PASS",
    }
