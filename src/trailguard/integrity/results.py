"""What verification found: one result per file, spans of time no digest covers, and the
summary and exit status derived from them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from trailguard.integrity.layout import Chain
from trailguard.integrity.times import fmt_z

#: exit statuses of ``trailguard verify`` (documented in docs/verify.md)
EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_FAILED: Final = 3
EXIT_UNREADABLE: Final = 4


class Status(StrEnum):
    VALID = "valid"
    INVALID = "INVALID"
    UNVERIFIED = "unverified"  # a log delivered under a digest that is missing or invalid
    UNLISTED = "unlisted"  # a log in the log prefix that no digest covering its time names,
    # or any other object there whose name is not a CloudTrail log file's
    PENDING = "pending"  # a log newer than the delivery delay, not yet named by a digest
    UNREADABLE = "unreadable"  # could not be read (network, permissions): not a verdict


class Reason(StrEnum):
    NOT_FOUND = "not-found"
    HASH_MISMATCH = "hash-mismatch"
    INVALID_FORMAT = "invalid-format"
    SIGNATURE_FAILURE = "signature-failure"
    SIGNATURE_MISSING = "signature-missing"
    UNKNOWN_PUBLIC_KEY = "unknown-public-key"
    INVALID_PUBLIC_KEY = "invalid-public-key"
    MOVED = "moved"
    BROKEN_CHAIN_LINK = "broken-chain-link"
    EXTRA_DATA = "extra-data"
    WEAK_SIGNATURE_ALGORITHM = "weak-signature-algorithm"
    DIGEST_MISSING_OR_INVALID = "digest-missing-or-invalid"
    NOT_IN_ANY_DIGEST = "not-in-any-digest"
    NOT_A_LOG_FILE_NAME = "not-a-log-file-name"
    READ_ERROR = "read-error"


class SpanKind(StrEnum):
    GAP = "gap"  # the chain restarts: logging or validation was off in between
    LOGGING_STOPPED = "logging-stopped"  # no digests after T, and CloudTrail says it stopped
    DIGESTS_MISSING = "digests-missing"  # no digests after T although some were due


#: the AWS CLI's wording, where it has one; ours for what it does not report
MESSAGES: Final[dict[Reason, str]] = {
    Reason.NOT_FOUND: "not found",
    Reason.HASH_MISMATCH: "hash value doesn't match",
    Reason.INVALID_FORMAT: "invalid format",
    Reason.SIGNATURE_FAILURE: "signature verification failed",
    Reason.SIGNATURE_MISSING: "signature missing",
    Reason.UNKNOWN_PUBLIC_KEY: "public key not found",
    Reason.INVALID_PUBLIC_KEY: "unable to load public key",
    Reason.MOVED: "has been moved from its original location",
    Reason.BROKEN_CHAIN_LINK: "broken chain link",
    Reason.EXTRA_DATA: "extra data after the first gzip member",
    Reason.WEAK_SIGNATURE_ALGORITHM: "weak signature algorithm",
    Reason.DIGEST_MISSING_OR_INVALID: "delivered under a digest that is missing or invalid",
    Reason.NOT_IN_ANY_DIGEST: "named by no digest covering its time",
    Reason.NOT_A_LOG_FILE_NAME: "not a CloudTrail log file name",
    Reason.READ_ERROR: "could not be read",
}


@dataclass(slots=True)
class FileResult:
    """The verdict on one digest or log file."""

    kind: str  # "digest" or "log"
    bucket: str
    key: str
    location: str  # s3://bucket/key, or the local path
    status: Status
    reason: Reason | None = None
    detail: str = ""
    backfill: bool = False
    chain: Chain | None = None
    digest: str | None = None  # for a log: the digest that names it
    time: datetime | None = None  # a digest's end time; a log's time from its name

    @property
    def failed(self) -> bool:
        return self.status not in (Status.VALID, Status.PENDING, Status.UNREADABLE)

    def message(self) -> str:
        if self.status is Status.VALID:
            return "valid"
        text = MESSAGES[self.reason] if self.reason else ""
        if self.status is not Status.INVALID:
            text = f"{self.status.value}: {text}" if text else self.status.value
        else:
            text = f"INVALID: {text}"
        return f"{text} ({self.detail})" if self.detail else text

    def line(self) -> str:
        what = "Digest file" if self.kind == "digest" else "Log file"
        prefix = "(backfill) " if self.backfill else ""
        return f"{prefix}{what}\t{self.location}\t{self.message()}"

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "location": self.location,
            "bucket": self.bucket,
            "key": self.key,
            "status": self.status.value,
            "reason": self.reason.value if self.reason else None,
            "message": self.message(),
            "detail": self.detail or None,
            "backfill": self.backfill,
            "digest": self.digest,
            "time": fmt_z(self.time) if self.time else None,
            **_chain_json(self.chain),
        }


@dataclass(frozen=True, slots=True)
class SpanResult:
    """A stretch of time inside the window that no digest covers."""

    kind: SpanKind
    chain: Chain
    start: datetime
    end: datetime
    detail: str

    def line(self) -> str:
        return (
            f"{self.kind.value}\t{self.chain.label()}\t{fmt_z(self.start)} to "
            f"{fmt_z(self.end)}: {self.detail}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "type": "span",
            "kind": self.kind.value,
            "start": fmt_z(self.start),
            "end": fmt_z(self.end),
            "detail": self.detail,
            **_chain_json(self.chain),
        }


def _chain_json(chain: Chain | None) -> dict[str, Any]:
    if chain is None:
        return {}
    return {
        "account": chain.account,
        "region": chain.region,
        "trail": chain.trail,
        "homeRegion": chain.home_region,
        "organization": chain.org or None,
    }


@dataclass(slots=True)
class Report:
    """Everything one run found, in the order it was found."""

    requested_start: datetime | None
    requested_end: datetime
    files: list[FileResult] = field(default_factory=list)
    spans: list[SpanResult] = field(default_factory=list)
    chains: list[Chain] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # run-level read errors (listing, keys)

    def tally(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {
            "digest": Counter(),
            "backfill digest": Counter(),
            "log": Counter(),
        }
        for r in self.files:
            kind = "backfill digest" if r.kind == "digest" and r.backfill else r.kind
            out[kind][r.status.value] += 1
        return out

    @property
    def nothing_found(self) -> bool:
        return not any(r.kind == "digest" for r in self.files)

    def exit_status(self) -> int:
        """0 only when everything in the window verified; 3 on any integrity failure (or
        when no digest was found at all); else 4 when something could not be read."""
        if self.nothing_found or self.spans or any(r.failed for r in self.files):
            return EXIT_FAILED
        if self.errors or any(r.status is Status.UNREADABLE for r in self.files):
            return EXIT_UNREADABLE
        return EXIT_OK
