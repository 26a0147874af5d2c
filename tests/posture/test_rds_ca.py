"""RDS CA expiry.  DB instances are made on the moto server; moto does not implement
``DescribeCertificates``, so the PASS and FAIL cases answer RDS through botocore's Stubber:
the DB instances as moto described them, then the CAs shaped as the RDS API reference
documents ``DescribeCertificates``.  Without the Stubber, moto's missing operation is the
"not implemented" case: SKIPPED, not a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from trailguard.posture.checks.base import CRITICAL, HIGH, MEDIUM
from trailguard.posture.checks.rds_ca import ca_grade

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RDS = frozenset({"rds"})


def database(rds: Any, name: str, ca: str) -> None:
    rds.create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.micro",
        Engine="mysql",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-real-password",
        AllocatedStorage=20,
        CACertificateIdentifier=ca,
    )


def certificate(ident: str, till: datetime) -> dict[str, Any]:
    return {
        "CertificateIdentifier": ident,
        "CertificateType": "CA",
        "Thumbprint": "0123456789abcdef0123456789abcdef01234567",
        "ValidFrom": till - timedelta(days=3650),
        "ValidTill": till,
        "CertificateArn": f"arn:aws:rds:us-east-1::cert:{ident}",
        "CustomerOverride": False,
    }


def test_ca_expiry_graded(pz: Any) -> None:
    moto_rds = pz.client("rds")
    cas = {
        "db-expired": ("rds-ca-2019", NOW - timedelta(days=1)),
        "db-soon": ("rds-ca-soon", NOW + timedelta(days=10)),
        "db-quarter": ("rds-ca-quarter", NOW + timedelta(days=60)),
        "db-fine": ("rds-ca-rsa2048-g1", NOW + timedelta(days=400)),
    }
    for name, (ca, _till) in cas.items():
        database(moto_rds, name, ca)
    described = moto_rds.describe_db_instances()
    described.pop("ResponseMetadata")
    stubbed = pz.client("rds", aws_access_key_id="stubbed", aws_secret_access_key="stubbed")
    with Stubber(stubbed) as stubber:
        stubber.add_response("describe_db_instances", described)
        stubber.add_response(
            "describe_certificates",
            {
                "DefaultCertificateForNewLaunches": "rds-ca-rsa2048-g1",
                "Certificates": [certificate(ca, till) for ca, till in cas.values()],
            },
        )
        snapshot = pz.snap(services=RDS, clients={("rds", "us-east-1"): stubbed})
        stubber.assert_no_pending_responses()
    got = {
        r.resource_key.rsplit(":", 1)[1]: r
        for r in pz.results(snapshot, "rds_ca_certificate_expiry")
    }
    assert {k: r.status for k, r in got.items()} == {
        "db-expired": "FAIL",
        "db-soon": "FAIL",
        "db-quarter": "FAIL",
        "db-fine": "PASS",
    }
    assert got["db-expired"].severity == CRITICAL and "expired on" in got["db-expired"].message
    assert got["db-soon"].severity == HIGH
    assert got["db-quarter"].severity == MEDIUM
    assert got["db-fine"].finding_type == "Policy:RDS/CACertificateExpiring"


def test_describe_certificates_not_implemented_is_skipped(pz: Any) -> None:
    database(pz.client("rds"), "db-any", "rds-ca-rsa2048-g1")
    (r,) = pz.results(pz.snap(services=RDS), "rds_ca_certificate_expiry")
    assert r.status == "SKIPPED"
    assert r.skipped is not None
    assert (r.skipped.api, r.skipped.kind) == ("rds:DescribeCertificates", "not-implemented")


@pytest.mark.parametrize(
    ("left", "grade"),
    [
        (timedelta(days=-30), CRITICAL),
        (timedelta(seconds=-1), CRITICAL),
        (timedelta(0), HIGH),
        (timedelta(days=29, hours=23), HIGH),
        (timedelta(days=30), MEDIUM),
        (timedelta(days=89), MEDIUM),
        (timedelta(days=90), None),
    ],
)
def test_grade_boundaries(left: timedelta, grade: float | None) -> None:
    assert ca_grade(NOW + left, NOW) == grade
