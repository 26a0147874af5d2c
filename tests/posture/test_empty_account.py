"""Every check on an account where nothing was created (moto's default VPC and security
group are all it has): account-wide checks fail, resource checks find nothing to judge
or judge the default VPC, and nothing is skipped."""

from __future__ import annotations

from collections import Counter
from typing import Any

from trailguard.posture.checks import ALL_CHECKS, check_ids
from trailguard.posture.run import evaluate

EXPECTED: dict[str, dict[str, int]] = {
    "s3_bucket_versioning": {},
    "s3_bucket_mfa_delete": {},
    "s3_bucket_undelete_window": {},
    "s3_keep_forever_no_expiry": {},
    "s3_account_public_access_block": {"FAIL": 1},
    "s3_bucket_public_access_block": {},
    "s3_bucket_public_grant": {},
    "s3_bucket_default_encryption": {},
    "s3_bucket_access_logging": {},
    "cloudtrail_multi_region_logging": {"FAIL": 1},
    "cloudtrail_log_file_validation": {},
    "cloudtrail_bucket_protected": {},
    "cloudtrail_kms_encryption": {},
    "cloudtrail_cloudwatch_logs": {},
    "ec2_database_port_open_to_internet": {"PASS": 1},  # the default security group
    "rds_instance_public": {},
    "network_production_separation": {},
    "rds_ca_certificate_expiry": {},
    "vpc_flow_logs": {"FAIL": 1},  # the default VPC
    "vpc_resolver_query_logs": {"FAIL": 1},
}


def test_every_check_has_an_empty_account_case() -> None:
    assert sorted(EXPECTED) == sorted(check_ids())


def test_empty_account(pz: Any) -> None:
    snapshot = pz.snap()
    results = evaluate(snapshot, ALL_CHECKS)
    got: dict[str, Counter[str]] = {c.meta.id: Counter() for c in ALL_CHECKS}
    for r in results:
        got[r.check_id][r.status] += 1
    assert {k: dict(v) for k, v in got.items()} == EXPECTED
