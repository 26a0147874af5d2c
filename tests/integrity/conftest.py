"""Signed CloudTrail fixtures made in the test: RSA keys, log files, digests and their chain.

A :class:`Bucket` holds objects in memory (bytes and S3 user metadata); a :class:`Trail`
delivers hours into it the way CloudTrail does (log files, then a digest listing them,
linked to the previous digest and signed as the spec's "data to sign" says).  Tests then
tamper with the objects and write the bucket to a local folder (with ``.meta.json``
sidecars) or to the moto S3 server.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trailguard.integrity.keys import KeyRing, PublicKey
from trailguard.integrity.reader import LocalReader, S3Reader
from trailguard.integrity.results import Report
from trailguard.integrity.verifier import Options, Verifier

ACCOUNT = "111122223333"
REGION = "us-east-1"
BUCKET = "trail-bucket"
TRAIL = "main-trail"
T0 = datetime(2024, 3, 10, 0, 1, 31, tzinfo=UTC)  # end of the first digest
HOUR = timedelta(hours=1)


def z(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Signer:
    private: rsa.RSAPrivateKey
    spki: bool = False  # publish the key as SubjectPublicKeyInfo instead of PKCS#1

    @property
    def der(self) -> bytes:
        fmt = (
            serialization.PublicFormat.SubjectPublicKeyInfo
            if self.spki
            else serialization.PublicFormat.PKCS1
        )
        return self.private.public_key().public_bytes(serialization.Encoding.DER, fmt)

    @property
    def fingerprint(self) -> str:
        return hashlib.md5(self.der).hexdigest()

    def sign(self, data: bytes, algorithm: hashes.HashAlgorithm | None = None) -> str:
        return self.private.sign(data, padding.PKCS1v15(), algorithm or hashes.SHA256()).hex()

    def public_key(
        self, start: datetime = T0 - 30 * HOUR, end: datetime = T0 + 300 * HOUR
    ) -> PublicKey:
        return PublicKey(self.fingerprint, self.der, start, end)

    def key_json(self) -> dict[str, Any]:
        return {
            "Value": base64.b64encode(self.der).decode(),
            "ValidityStartTime": z(T0 - 30 * HOUR),
            "ValidityEndTime": z(T0 + 300 * HOUR),
            "Fingerprint": self.fingerprint,
        }


_KEYS: list[rsa.RSAPrivateKey] = []


def rsa_key(i: int) -> rsa.RSAPrivateKey:
    while len(_KEYS) <= i:
        _KEYS.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEYS[i]


@dataclass
class Obj:
    data: bytes
    metadata: dict[str, str] = field(default_factory=dict)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def data_to_sign(doc: dict[str, Any], raw: bytes) -> bytes:
    prev = doc["previousDigestSignature"]
    return "\n".join(
        [
            doc["digestEndTime"],
            f"{doc['digestS3Bucket']}/{doc['digestS3Object']}",
            hashlib.sha256(raw).hexdigest(),
            "null" if prev is None else prev,
        ]
    ).encode()


@dataclass
class Bucket:
    name: str = BUCKET
    objects: dict[str, Obj] = field(default_factory=dict)

    def digest_doc(self, key: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(gzip.decompress(self.objects[key].data))
        return doc

    def edit_digest(
        self, key: str, change: Callable[[dict[str, Any]], None], signer: Signer | None = None
    ) -> None:
        """Rewrite a digest's JSON; re-sign it with ``signer`` if given (else the old
        signature stays, as after tampering)."""
        doc = self.digest_doc(key)
        change(doc)
        raw = json.dumps(doc, separators=(",", ":")).encode()
        self.objects[key].data = gz(raw)
        if signer is not None:
            self.objects[key].metadata["signature"] = signer.sign(data_to_sign(doc, raw))

    def digests(self) -> list[str]:
        return sorted(k for k in self.objects if "CloudTrail-Digest/" in k)

    def logs(self) -> list[str]:
        return sorted(k for k in self.objects if "/CloudTrail/" in k)

    def to_dir(self, root: Path, manifest: bool = True) -> Path:
        for key, obj in self.objects.items():
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(obj.data)
            if obj.metadata:
                side = {f"x-amz-meta-{k}": v for k, v in obj.metadata.items()}
                path.with_name(path.name + ".meta.json").write_text(json.dumps(side))
        if manifest:
            (root / "trailguard-mirror.json").write_text(json.dumps({"bucket": self.name}))
        return root

    def to_s3(self, client: Any) -> None:
        client.create_bucket(Bucket=self.name)
        for key, obj in self.objects.items():
            client.put_object(Bucket=self.name, Key=key, Body=obj.data, Metadata=obj.metadata)


class Trail:
    """Delivers hours of a trail into a bucket, as CloudTrail would."""

    def __init__(
        self,
        bucket: Bucket,
        signer: Signer,
        *,
        account: str = ACCOUNT,
        region: str = REGION,
        home: str = REGION,
        trail: str = TRAIL,
        prefix: str = "",
        org: str = "",
        seed: int = 1,
    ) -> None:
        self.bucket, self.signer = bucket, signer
        self.account, self.region, self.home, self.trail = account, region, home, trail
        self.prefix, self.org = prefix, org
        self.last: tuple[str, dict[str, Any], str] | None = None  # key, doc, signature
        self.rand = random.Random(seed)
        self.keys: list[str] = []

    @property
    def base(self) -> str:
        org = f"{self.org}/" if self.org else ""
        return f"{self.prefix}AWSLogs/{org}{self.account}/"

    def log(self, when: datetime, events: int = 3) -> tuple[str, bytes]:
        unique = "".join(self.rand.choices(string.ascii_letters + string.digits, k=16))
        key = (
            f"{self.base}CloudTrail/{self.region}/{when:%Y/%m/%d}/"
            f"{self.account}_CloudTrail_{self.region}_{when:%Y%m%dT%H%MZ}_{unique}.json.gz"
        )
        records = [
            {
                "eventVersion": "1.08",
                "eventTime": z(when - timedelta(seconds=i)),
                "eventName": "GetObject",
                "eventID": f"{unique}-{i}",
                "recipientAccountId": self.account,
                "awsRegion": self.region,
            }
            for i in range(events)
        ]
        raw = json.dumps({"Records": records}, separators=(",", ":")).encode()
        self.bucket.objects[key] = Obj(gz(raw))
        return key, raw

    def digest_key(self, end: datetime, backfill: bool = False) -> str:
        return (
            f"{self.base}CloudTrail-Digest/{self.region}/{end:%Y/%m/%d}/"
            f"{self.account}_CloudTrail-Digest_{self.region}_{self.trail}_{self.home}_"
            f"{end:%Y%m%dT%H%M%SZ}{'_backfill' if backfill else ''}.json.gz"
        )

    def hour(
        self,
        end: datetime,
        logs: int = 2,
        *,
        restart: bool = False,
        backfill: bool = False,
        generated: datetime | None = None,
        signer: Signer | None = None,
        algorithm: hashes.HashAlgorithm | None = None,
        log_files: list[tuple[str, bytes]] | None = None,
    ) -> str:
        """One digest ending at ``end`` over ``logs`` new log files (or ``log_files``)."""
        signer = signer or self.signer
        start = end - HOUR
        files = (
            log_files
            if log_files is not None
            else [self.log(end - timedelta(minutes=50 - 10 * i)) for i in range(logs)]
        )
        key = self.digest_key(end, backfill)
        prev = None if (restart or backfill or self.last is None) else self.last
        doc: dict[str, Any] = {
            "awsAccountId": self.account,
            "digestStartTime": z(start),
            "digestEndTime": z(end),
            "digestS3Bucket": self.bucket.name,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": signer.fingerprint,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": z(end - HOUR / 2) if files else None,
            "oldestEventTime": z(start) if files else None,
            "previousDigestS3Bucket": self.bucket.name if prev else None,
            "previousDigestS3Object": prev[0] if prev else None,
            "previousDigestHashValue": (
                hashlib.sha256(gzip.decompress(self.bucket.objects[prev[0]].data)).hexdigest()
                if prev
                else None
            ),
            "previousDigestHashAlgorithm": "SHA-256" if prev else None,
            "previousDigestSignature": prev[2] if prev else None,
            "logFiles": [
                {
                    "s3Bucket": self.bucket.name,
                    "s3Object": k,
                    "hashValue": hashlib.sha256(raw).hexdigest(),
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": z(end),
                    "oldestEventTime": z(start),
                }
                for k, raw in files
            ],
        }
        raw = json.dumps(doc, separators=(",", ":")).encode()
        signature = signer.sign(data_to_sign(doc, raw), algorithm)
        meta = {"signature": signature, "signature-algorithm": "SHA256withRSA"}
        if backfill:
            meta["backfill-generation-timestamp"] = z(generated or end + HOUR)
        self.bucket.objects[key] = Obj(gz(raw), meta)
        if not backfill:
            self.last = (key, doc, signature)
            self.keys.append(key)
        return key

    def run(self, hours: int, first_end: datetime = T0, logs: int = 2) -> list[str]:
        return [self.hour(first_end + i * HOUR, logs) for i in range(hours)]


def verify_dir(
    root: Path,
    keys: list[PublicKey],
    *,
    now: datetime,
    bucket: str | None = BUCKET,
    **options: Any,
) -> Report:
    opt = Options(now=now, workers=2, **options)
    return Verifier(LocalReader(root, bucket), KeyRing(keys), opt).run()


def verify_s3(
    client: Any,
    keys: KeyRing,
    *,
    now: datetime,
    page_size: int | None = None,
    status: Any = None,
    **options: Any,
) -> Report:
    opt = Options(now=now, workers=2, **options)
    return Verifier(S3Reader(client, BUCKET, page_size), keys, opt, status).run()


def verdicts(report: Report) -> dict[str, tuple[str, str | None]]:
    """key -> (status, reason) for every file result."""
    return {r.key: (r.status.value, r.reason.value if r.reason else None) for r in report.files}


@pytest.fixture
def signer() -> Signer:
    return Signer(rsa_key(0))


@pytest.fixture
def other_signer() -> Signer:
    return Signer(rsa_key(1))


@pytest.fixture
def kit() -> Any:
    """This module: the fixture builders, for tests (pytest's importlib mode does not put
    conftest modules on the import path)."""
    import sys

    return sys.modules[__name__]
