"""CloudTrail's S3 key layout: digest and log file names, chains, trail ARNs.

A *chain* is what one trail delivers for one account and one source region: its digests
link to each other and list that region's log files.  A bucket may hold many chains
(several trails, accounts of an organization, regions of a multi-region trail).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from trailguard.integrity.times import parse_stamp

_ORG: Final = r"o-[a-z0-9]{10,32}"
DIGEST_KEY: Final = re.compile(
    rf"(?P<prefix>(?:.*/)?)AWSLogs/(?:(?P<org>{_ORG})/)?(?P<account>\d{{12}})/"
    r"CloudTrail-Digest/(?P<region>[a-z0-9-]+)/\d{4}/\d{2}/\d{2}/"
    r"(?P=account)_CloudTrail-Digest_(?P=region)_(?P<trail>[A-Za-z0-9._-]+)_"
    r"(?P<home>[a-z0-9-]+)_(?P<stamp>\d{8}T\d{6}Z)(?P<backfill>_backfill)?\.json\.gz"
)
LOG_KEY: Final = re.compile(
    rf"(?P<prefix>(?:.*/)?)AWSLogs/(?:(?P<org>{_ORG})/)?(?P<account>\d{{12}})/"
    r"CloudTrail/(?P<region>[a-z0-9-]+)/\d{4}/\d{2}/\d{2}/"
    r"(?P=account)_CloudTrail_(?P=region)_(?P<stamp>\d{8}T\d{4}Z)_[A-Za-z0-9]+\.json\.gz"
)
TRAIL_ARN: Final = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):cloudtrail:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"trail/(?P<name>[A-Za-z0-9._-]{3,128})"
)
ACCOUNT_ID: Final = re.compile(r"\d{12}")
ORG_ID: Final = re.compile(_ORG)
REGION: Final = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")


@dataclass(frozen=True, slots=True, order=True)
class Chain:
    """One trail's digests for one account and one source region."""

    prefix: str  # the trail's S3 key prefix with its trailing "/", or ""
    org: str  # organization id for organization trails, else ""
    account: str
    region: str  # the source region the digests cover
    trail: str
    home_region: str

    @property
    def base(self) -> str:
        org = f"{self.org}/" if self.org else ""
        return f"{self.prefix}AWSLogs/{org}{self.account}/"

    @property
    def digest_dir(self) -> str:
        return f"{self.base}CloudTrail-Digest/{self.region}/"

    @property
    def log_dir(self) -> str:
        return f"{self.base}CloudTrail/{self.region}/"

    @property
    def arn(self) -> str:
        return f"arn:aws:cloudtrail:{self.home_region}:{self.account}:trail/{self.trail}"

    def label(self) -> str:
        org = f" (organization {self.org})" if self.org else ""
        return (
            f"trail {self.trail} ({self.home_region}), account {self.account}{org}, {self.region}"
        )


@dataclass(frozen=True, slots=True)
class DigestKey:
    key: str
    chain: Chain
    stamp: str
    end: datetime
    backfill: bool


@dataclass(frozen=True, slots=True)
class LogKey:
    key: str
    account: str
    region: str
    base: str  # prefix + AWSLogs/[org/]account/
    time: datetime


def parse_digest_key(key: str) -> DigestKey | None:
    """The parts of a digest object's key; None if it is not one."""
    m = DIGEST_KEY.fullmatch(key)
    if m is None:
        return None
    end = parse_stamp(m["stamp"])
    if end is None:
        return None
    chain = Chain(
        prefix=m["prefix"],
        org=m["org"] or "",
        account=m["account"],
        region=m["region"],
        trail=m["trail"],
        home_region=m["home"],
    )
    return DigestKey(key, chain, m["stamp"], end, bool(m["backfill"]))


def parse_log_key(key: str) -> LogKey | None:
    """The parts of a log file's key; None if it is not one."""
    m = LOG_KEY.fullmatch(key)
    if m is None:
        return None
    when = parse_stamp(m["stamp"][:-1] + "00Z")
    if when is None:
        return None
    org = f"{m['org']}/" if m["org"] else ""
    return LogKey(
        key, m["account"], m["region"], f"{m['prefix']}AWSLogs/{org}{m['account']}/", when
    )


@dataclass(frozen=True, slots=True)
class TrailArn:
    partition: str
    region: str
    account: str
    name: str
    text: str


def parse_trail_arn(text: str) -> TrailArn | None:
    m = TRAIL_ARN.fullmatch(text)
    if m is None:
        return None
    return TrailArn(m["partition"], m["region"], m["account"], m["name"], text)
