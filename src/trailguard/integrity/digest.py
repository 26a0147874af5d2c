"""The digest file: its fields, how it is parsed, and the string CloudTrail signs.

Parsing never trusts the input: a digest that is not gzip, not JSON, not an object, or
lacks a field the check needs is an :class:`InvalidDigestError` naming what is wrong,
which the caller reports against that file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from trailguard.errors import FormatError
from trailguard.integrity.times import parse_z

#: fields the AWS CLI requires to be present (null allowed there) before it checks anything
REQUIRED: Final = (
    "digestPublicKeyFingerprint",
    "digestS3Bucket",
    "digestS3Object",
    "previousDigestSignature",
    "digestEndTime",
    "digestStartTime",
)
SIGNATURE_ALGORITHM: Final = "SHA256withRSA"
HASH_ALGORITHM: Final = "SHA-256"


class InvalidDigestError(FormatError):
    """A digest file that cannot be read as one."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One ``logFiles`` entry: a log file the digest vouches for."""

    bucket: str
    key: str
    hash_value: str
    hash_algorithm: str | None


@dataclass(frozen=True, slots=True)
class Digest:
    """A parsed digest file (its signature lives in the object's metadata, not here)."""

    sha256: str  # of the decompressed bytes, exactly as stored
    account: str | None
    start: datetime
    end: datetime
    end_text: str  # digestEndTime exactly as written: it is part of the signed string
    bucket: str
    key: str
    fingerprint: str
    algorithm: str | None
    prev_bucket: str | None
    prev_key: str | None
    prev_hash: str | None
    prev_hash_algorithm: str | None
    prev_signature: str | None
    log_files: tuple[LogEntry, ...]
    log_files_error: str | None  # logFiles unreadable: reported once the signature is checked

    @property
    def is_start(self) -> bool:
        """A starting digest: the first after logging or validation was (re)enabled."""
        return self.prev_bucket is None or self.prev_key is None

    def data_to_sign(self) -> bytes:
        """The four lines CloudTrail signs, joined by ``\\n`` (no trailing newline)."""
        prev = "null" if self.prev_signature is None else self.prev_signature
        text = f"{self.end_text}\n{self.bucket}/{self.key}\n{self.sha256}\n{prev}"
        return text.encode("utf-8", "surrogatepass")


def _str_or_none(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidDigestError(f"{name} is not a string")
    return value


def _required_str(doc: dict[str, Any], name: str) -> str:
    value = _str_or_none(doc, name)
    if value is None:
        raise InvalidDigestError(f"{name} is null")
    return value


def _log_entries(value: object) -> tuple[tuple[LogEntry, ...], str | None]:
    if not isinstance(value, list):
        return (), "logFiles is missing or not a list"
    out: list[LogEntry] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            return tuple(out), f"logFiles[{i}] is not an object"
        bucket, key, hv = item.get("s3Bucket"), item.get("s3Object"), item.get("hashValue")
        alg = item.get("hashAlgorithm")
        if not (isinstance(bucket, str) and isinstance(key, str) and isinstance(hv, str)):
            return tuple(out), f"logFiles[{i}] lacks s3Bucket, s3Object or hashValue"
        out.append(LogEntry(bucket, key, hv, alg if isinstance(alg, str) else None))
    return tuple(out), None


def parse_digest(data: bytes, sha256: str) -> Digest:
    """Parse a digest's decompressed bytes (``sha256``: their hex SHA-256)."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidDigestError(f"not JSON ({type(exc).__name__})") from exc
    if not isinstance(doc, dict):
        raise InvalidDigestError("not a JSON object")
    absent = [name for name in REQUIRED if name not in doc]
    if absent:
        raise InvalidDigestError(f"missing {', '.join(absent)}")
    end_text = _required_str(doc, "digestEndTime")
    end = parse_z(end_text)
    start = parse_z(doc.get("digestStartTime"))
    if end is None or start is None:
        raise InvalidDigestError("digestStartTime or digestEndTime is not YYYY-MM-DDTHH:MM:SSZ")
    if start > end:
        raise InvalidDigestError("digestStartTime is after digestEndTime")
    log_files, log_error = _log_entries(doc.get("logFiles"))
    return Digest(
        sha256=sha256,
        account=_str_or_none(doc, "awsAccountId"),
        start=start,
        end=end,
        end_text=end_text,
        bucket=_required_str(doc, "digestS3Bucket"),
        key=_required_str(doc, "digestS3Object"),
        fingerprint=_required_str(doc, "digestPublicKeyFingerprint"),
        algorithm=_str_or_none(doc, "digestSignatureAlgorithm"),
        prev_bucket=_str_or_none(doc, "previousDigestS3Bucket"),
        prev_key=_str_or_none(doc, "previousDigestS3Object"),
        prev_hash=_str_or_none(doc, "previousDigestHashValue"),
        prev_hash_algorithm=_str_or_none(doc, "previousDigestHashAlgorithm"),
        prev_signature=_str_or_none(doc, "previousDigestSignature"),
        log_files=log_files,
        log_files_error=log_error,
    )
