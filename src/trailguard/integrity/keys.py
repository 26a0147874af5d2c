"""CloudTrail's public keys: from ``ListPublicKeys`` or a file of the same shape, and
signature checks with them.

Keys are found by the digest's ``digestPublicKeyFingerprint``.  A key's ``Value`` may be a
PKCS#1 ``RSAPublicKey`` or an X.509 ``SubjectPublicKeyInfo`` (AWS's own sample shows the
latter; the AWS CLI rejects it).  A signature must be RSASSA-PKCS1-v1_5 over SHA-256;
one that only verifies with another hash (MD5, SHA-1, ...) is reported as weak.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trailguard.errors import ConfigError, SourceError
from trailguard.integrity.times import floor_hour, fmt_z, parse_user_time

#: how far around a digest's time to ask ListPublicKeys for a key not yet loaded
FETCH_MARGIN: Final = timedelta(hours=2)
_WEAK_HASHES: Final[tuple[type[hashes.HashAlgorithm], ...]] = (
    hashes.SHA1,
    hashes.MD5,
    hashes.SHA224,
    hashes.SHA384,
    hashes.SHA512,
)


@dataclass(frozen=True, slots=True)
class PublicKey:
    fingerprint: str
    der: bytes
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """This key as one ``PublicKeyList`` entry (the shape ListPublicKeys returns)."""
        return {
            "Value": base64.b64encode(self.der).decode("ascii"),
            "ValidityStartTime": fmt_z(self.valid_from) if self.valid_from else None,
            "ValidityEndTime": fmt_z(self.valid_to) if self.valid_to else None,
            "Fingerprint": self.fingerprint,
        }


class KeyLoadError(ValueError):
    """A key's value is not an RSA public key in DER form."""


def load_rsa_key(der: bytes) -> rsa.RSAPublicKey:
    """An RSA public key from DER bytes, PKCS#1 or SubjectPublicKeyInfo."""
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError("not a DER RSA public key (PKCS #1 or SubjectPublicKeyInfo)") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyLoadError(f"not an RSA key ({type(key).__name__})")
    return key


class Verdict(Enum):
    OK = "ok"
    WEAK = "weak"
    BAD = "bad"


def check_signature(
    key: rsa.RSAPublicKey, signature: bytes, data: bytes
) -> tuple[Verdict, str | None]:
    """SHA256withRSA (PKCS#1 v1.5) verification; a weaker hash that verifies is WEAK."""
    try:
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        return Verdict.OK, None
    except InvalidSignature:
        pass
    for algorithm in _WEAK_HASHES:
        try:
            key.verify(signature, data, padding.PKCS1v15(), algorithm())
        except (InvalidSignature, UnsupportedAlgorithm):
            continue
        return Verdict.WEAK, algorithm.name.upper()  # type: ignore[attr-defined]
    return Verdict.BAD, None


def _entry(item: Mapping[str, Any], where: str) -> PublicKey:
    value, fingerprint = item.get("Value"), item.get("Fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise ValueError(f"{where}: Fingerprint is missing")
    if isinstance(value, str):
        try:
            der = base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"{where}: Value is not base64") from exc
    elif isinstance(value, bytes | bytearray):
        der = bytes(value)
    else:
        raise ValueError(f"{where}: Value is missing")
    times: list[datetime | None] = []
    for name in ("ValidityStartTime", "ValidityEndTime"):
        raw = item.get(name)
        if isinstance(raw, datetime):
            times.append(raw)
        elif isinstance(raw, str) and raw:
            try:
                times.append(parse_user_time(raw))
            except ValueError as exc:
                raise ValueError(f"{where}: {name} is not an ISO 8601 time") from exc
        else:
            times.append(None)
    return PublicKey(fingerprint, der, times[0], times[1])


def load_key_file(path: Path) -> list[PublicKey]:
    """Keys from a JSON file in ListPublicKeys' shape: ``{"PublicKeyList": [...]}``."""
    try:
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from exc
    items = doc.get("PublicKeyList") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f'{path}: expected {{"PublicKeyList": [...]}}')
    keys = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: PublicKeyList[{i}] is not an object")
        try:
            keys.append(_entry(item, f"PublicKeyList[{i}]"))
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    return keys


def write_key_file(path: Path, keys: Iterable[PublicKey]) -> None:
    doc = {"PublicKeyList": [k.as_json() for k in keys]}
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


#: fetches the keys of one region valid in [start, end]; raises SourceError when it cannot
KeyFetcher = Callable[[str, datetime, datetime], list[PublicKey]]


def cloudtrail_fetcher(client_for: Callable[[str], Any]) -> KeyFetcher:
    """A fetcher calling ``ListPublicKeys`` on ``client_for(region)``, every page."""
    from botocore.exceptions import BotoCoreError, ClientError

    def fetch(region: str, start: datetime, end: datetime) -> list[PublicKey]:
        keys: list[PublicKey] = []
        args: dict[str, Any] = {"StartTime": start, "EndTime": end}
        try:
            client = client_for(region)
            while True:
                page = client.list_public_keys(**args)
                for i, item in enumerate(page.get("PublicKeyList", [])):
                    try:
                        keys.append(_entry(item, f"ListPublicKeys[{i}]"))
                    except ValueError:
                        continue  # one malformed entry does not hide the others
                token = page.get("NextToken")
                if not token:
                    return keys
                args["NextToken"] = token
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(f"ListPublicKeys in {region} failed: {exc}") from exc

    return fetch


class KeyRing:
    """Keys by fingerprint: those given, plus any fetched on demand per region.

    A fingerprint not yet known is looked up with the fetcher for the digest's region over
    ``[time - 2 h, time + 2 h]`` (its end time, or a backfill digest's generation time),
    so a genuine digest is never failed for lack of a key from another time range (the
    AWS CLI asks once, for the requested window only).  Thread-safe.
    """

    def __init__(self, keys: Iterable[PublicKey] = (), fetch: KeyFetcher | None = None) -> None:
        self._by_fp: dict[str, PublicKey] = {}
        self._fetch = fetch
        self._asked: set[tuple[str, datetime]] = set()
        self._lock = threading.Lock()
        self.errors: list[str] = []
        self.add(keys)

    @property
    def can_fetch(self) -> bool:
        return self._fetch is not None

    def add(self, keys: Iterable[PublicKey]) -> None:
        for k in keys:
            self._by_fp.setdefault(k.fingerprint, k)

    def keys(self) -> list[PublicKey]:
        return sorted(self._by_fp.values(), key=lambda k: k.fingerprint)

    def prefetch(self, region: str, start: datetime, end: datetime) -> None:
        """Load the keys of a whole range at once (one call instead of one per hour)."""
        if self._fetch is None:
            return
        with self._lock:
            try:
                self.add(self._fetch(region, start - FETCH_MARGIN, end + FETCH_MARGIN))
            except SourceError as exc:
                self.errors.append(str(exc))

    def find(self, fingerprint: str, region: str, when: datetime) -> PublicKey | None:
        """The key with this fingerprint; raises SourceError if it had to be fetched and
        the fetch failed."""
        with self._lock:
            key = self._by_fp.get(fingerprint)
            if key is not None or self._fetch is None:
                return key
            hour = floor_hour(when)
            if (region, hour) in self._asked:
                return None
            self._asked.add((region, hour))
            try:
                self.add(self._fetch(region, hour - FETCH_MARGIN, hour + FETCH_MARGIN))
            except SourceError as exc:
                self._asked.discard((region, hour))
                self.errors.append(str(exc))
                raise
            return self._by_fp.get(fingerprint)
