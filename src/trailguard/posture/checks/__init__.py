"""The built-in posture checks, one module per service."""

from __future__ import annotations

from typing import Final

from trailguard.posture.checks import cloudtrail, coverage, network, rds_ca, s3
from trailguard.posture.checks.base import Check, CheckMeta, CheckResult

ALL_CHECKS: Final[tuple[Check, ...]] = (
    *s3.CHECKS,
    *cloudtrail.CHECKS,
    *network.CHECKS,
    *rds_ca.CHECKS,
    *coverage.CHECKS,
)


def check_ids() -> list[str]:
    return [c.meta.id for c in ALL_CHECKS]


__all__ = ["ALL_CHECKS", "Check", "CheckMeta", "CheckResult", "check_ids"]
