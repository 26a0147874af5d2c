"""Posture fixtures: an account on the moto server (127.0.0.1), emptied for each test
(through the root ``s3_client`` fixture), and helpers to populate it, take its snapshot
with a fixed clock and read the checks' verdicts.

moto gives every account a default VPC and its default security group, so the "empty
account" of these tests is one where the user has created nothing.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from trailguard.posture.aws import Aws, AwsOptions
from trailguard.posture.checks import ALL_CHECKS, Check, CheckResult
from trailguard.posture.model import AccountSnapshot, PostureConfig
from trailguard.posture.snapshot import take_snapshot


class Posture:
    """One test's account on the moto server."""

    ACCOUNT = "123456789012"  # moto's default account
    REGION = "us-east-1"
    NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._made: dict[tuple[str, str, str], Any] = {}

    def options(self, **kw: Any) -> AwsOptions:
        return AwsOptions(endpoint_url=self.endpoint, **{"max_attempts": 1, **kw})

    def client(self, service: str, region: str = REGION, **session: Any) -> Any:
        """A boto3 client on the moto server, to populate the account."""
        key = (service, region, repr(sorted(session.items())))
        if key not in self._made:
            aws = Aws(boto3.Session(**session), self.options())
            self._made[key] = aws.client(service, region)
        return self._made[key]

    def snap(
        self,
        config: PostureConfig | None = None,
        clients: Mapping[tuple[str, str], Any] | None = None,
        regions: tuple[str, ...] = (REGION,),
        services: frozenset[str] | None = None,
    ) -> AccountSnapshot:
        """The account's snapshot, taken at NOW (of ``services`` only, if given: moto
        builds a region's EC2 state on first use, which takes seconds)."""
        aws = Aws(
            boto3.Session(region_name=self.REGION), self.options(concurrency=4), clients=clients
        )
        return take_snapshot(
            aws, self.ACCOUNT, regions, config or PostureConfig(), self.now, services=services
        )

    def now(self) -> datetime:
        return self.NOW

    @staticmethod
    def check(check_id: str) -> Check:
        return next(c for c in ALL_CHECKS if c.meta.id == check_id)

    def results(self, snapshot: AccountSnapshot, check_id: str) -> list[CheckResult]:
        return self.check(check_id).evaluate(snapshot)

    def verdicts(self, snapshot: AccountSnapshot, check_id: str) -> dict[str, str]:
        """resource -> status of one check."""
        return {r.resource_key: r.status for r in self.results(snapshot, check_id)}

    def enforce_auth(self, on: bool) -> None:
        """Make the moto server check IAM permissions (on) or accept everything (off)."""
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=b"0" if on else b"inf",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def close(self) -> None:
        for c in self._made.values():
            c.close()


@pytest.fixture
def pz(moto_server: str, s3_client: Any) -> Iterator[Posture]:
    """The moto account, empty (``s3_client`` resets the server and fakes credentials)."""
    p = Posture(moto_server)
    try:
        yield p
    finally:
        p.enforce_auth(False)
        p.close()
