"""Inspect X.509 certificate bundles: what each certificate is, who issued it, what is wrong.

Pure: bytes and a clock in, reports out.  Loading bundles from files, URLs and servers is
:mod:`trailguard.posture.certs_fetch`; the command is :mod:`trailguard.posture.certs_command`.

* :func:`read_certificates` splits a file's bytes into certificates.  PEM blocks are found
  line by line; a block that is not valid base64 or not a certificate is reported with its
  line and block number and skipped, and the rest is still read.  Bytes with no PEM block
  at all are tried as one DER certificate (``.cer`` files often are).
* :func:`inspect_bundle` describes every certificate of a bundle and flags it.  The issuer
  of a certificate is the certificate of the bundle whose subject is the certificate's
  issuer name *and* whose public key verifies its signature: a certificate that only has
  the right name does not count.

Flags (:class:`Flag`): ``EXPIRED``, ``NOT_YET_VALID``, ``EXPIRING`` (within the warning
window), ``WEAK_KEY`` (RSA or DSA under 2048 bits, EC under 256), ``SHA1`` and ``MD5``
signatures, and ``ISSUER_NOT_IN_BUNDLE``.  A self-signed certificate's own signature is
never relied upon (it is trusted, or not, as a whole, as browsers and OpenSSL treat it),
so SHA-1 or MD5 on a root is not flagged; its signature algorithm is still shown.
"""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

#: PEM labels that hold a certificate (``TRUSTED CERTIFICATE`` is OpenSSL's, with trust
#: settings appended after the certificate)
CERT_LABELS: Final = frozenset({"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"})
MIN_RSA_BITS: Final = 2048
MIN_DSA_BITS: Final = 2048
MIN_EC_BITS: Final = 256
DEFAULT_WARN_DAYS: Final = 30

_BEGIN: Final = re.compile(r"^-----BEGIN ([A-Z0-9 ]+)-----\s*$")
_END: Final = re.compile(r"^-----END ([A-Z0-9 ]+)-----\s*$")
_SHA1_OIDS: Final = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA1,
        SignatureAlgorithmOID._RSA_WITH_SHA1,
        SignatureAlgorithmOID.ECDSA_WITH_SHA1,
        SignatureAlgorithmOID.DSA_WITH_SHA1,
    }
)
_MD5_OIDS: Final = frozenset({SignatureAlgorithmOID.RSA_WITH_MD5})


class Flag(StrEnum):
    """Something wrong with one certificate."""

    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    EXPIRING = "EXPIRING"
    WEAK_KEY = "WEAK_KEY"
    SHA1 = "SHA1"
    MD5 = "MD5"
    ISSUER_NOT_IN_BUNDLE = "ISSUER_NOT_IN_BUNDLE"


@dataclass(frozen=True, slots=True)
class Problem:
    """Input that could not be read: a file, URL or server, and where in it."""

    source: str
    position: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.position}" if self.position else self.source
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Located:
    """A certificate and where it was read from (``position``: line and block, or index)."""

    cert: x509.Certificate
    source: str
    position: str


@dataclass(frozen=True, slots=True)
class Parsed:
    """What :func:`read_certificates` found in one file's bytes."""

    certs: tuple[Located, ...] = ()
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Bundle:
    """The certificates of one SOURCE, inspected together (a folder's files are one bundle)."""

    name: str
    certs: tuple[Located, ...] = ()
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CertReport:
    """One certificate of a bundle, described and flagged.

    ``index`` is its 1-based place in the bundle (duplicates removed); ``issued_by`` is the
    index of the first certificate of the bundle that verifiably issued it (itself for a
    root), ``issuers`` all of them (a cross-signed CA can have several).
    """

    bundle: str
    index: int
    source: str
    position: str
    subject: str
    subject_cn: str
    issuer: str
    issuer_cn: str
    serial: str
    not_before: datetime
    not_after: datetime
    days_left: int
    key_type: str
    key_size: int | None
    key_detail: str
    signature_algorithm: str
    sha256: str
    self_signed: bool
    issued_by: int | None
    issuers: tuple[int, ...]
    flags: tuple[Flag, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        """Key type and size for people: ``RSA 2048``, ``EC 256 (secp256r1)``."""
        text = self.key_type if self.key_size is None else f"{self.key_type} {self.key_size}"
        return f"{text} ({self.key_detail})" if self.key_detail else text

    def as_dict(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle,
            "index": self.index,
            "source": self.source,
            "position": self.position,
            "subject": self.subject,
            "subject_cn": self.subject_cn,
            "issuer": self.issuer,
            "issuer_cn": self.issuer_cn,
            "serial": self.serial,
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "days_left": self.days_left,
            "key_type": self.key_type,
            "key_size": self.key_size,
            "key_detail": self.key_detail,
            "signature_algorithm": self.signature_algorithm,
            "sha256": self.sha256,
            "self_signed": self.self_signed,
            "issued_by": self.issued_by,
            "issuers": list(self.issuers),
            "flags": [str(f) for f in self.flags],
            "notes": list(self.notes),
        }


# --- reading ----------------------------------------------------------------------------


def read_certificates(data: bytes, source: str) -> Parsed:
    """The certificates in one file's bytes: PEM blocks, else one DER certificate.

    Bad blocks become :class:`Problem` values naming the line and block number; blocks of
    other kinds (keys, CRLs) are skipped with a note.
    """
    if not data.strip():
        return Parsed(problems=(Problem(source, "", "empty: no certificates"),))
    if b"-----BEGIN" not in data and b"-----END" not in data:
        return _read_der(data, source)
    certs: list[Located] = []
    problems: list[Problem] = []
    notes: list[str] = []
    open_label: str | None = None
    open_line = 0
    block = 0
    body: list[str] = []
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        line = raw.strip()
        begin, end = _BEGIN.match(line), _END.match(line)
        if begin:
            if open_label is not None:
                problems.append(
                    Problem(source, _where(open_line, block), "no END line before the next BEGIN")
                )
            block += 1
            open_label, open_line, body = begin.group(1), number, []
        elif end:
            if open_label is None:
                problems.append(Problem(source, f"line {number}", "END line without a BEGIN"))
            elif end.group(1) != open_label:
                problems.append(
                    Problem(
                        source,
                        _where(open_line, block),
                        f"BEGIN {open_label} ends with END {end.group(1)}",
                    )
                )
                open_label = None
            else:
                found = _read_block(open_label, body, source, open_line, block)
                if isinstance(found, Located):
                    certs.append(found)
                elif isinstance(found, Problem):
                    problems.append(found)
                else:
                    notes.append(found)
                open_label = None
        elif open_label is not None:
            body.append(line)
    if open_label is not None:
        problems.append(Problem(source, _where(open_line, block), "no END line"))
    if block == 0:
        problems.append(Problem(source, "", "no BEGIN line: no PEM certificate blocks"))
    return Parsed(tuple(certs), tuple(problems), tuple(notes))


def _where(line: int, block: int) -> str:
    return f"line {line} (block {block})"


def _read_block(
    label: str, body: list[str], source: str, line: int, block: int
) -> Located | Problem | str:
    where = _where(line, block)
    if label not in CERT_LABELS:
        return f"{source}: {where}: a {label} block, not a certificate: skipped"
    # RFC 7468 allows no headers in certificate blocks; RFC 1421-style ones mean a mangled file
    if any(":" in part for part in body):
        return Problem(source, where, "headers inside a certificate block")
    try:
        der = base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        return Problem(source, where, "not valid base64")
    if label == "TRUSTED CERTIFICATE":
        der = _first_element(der)
    try:
        cert = load_der(der)
    except ValueError as exc:
        return Problem(source, where, f"not a certificate: {exc}")
    return Located(cert, source, where)


def load_der(der: bytes) -> x509.Certificate:
    """One DER certificate; ValueError if it is not one."""
    # cryptography warns about RFC 5280 violations it still accepts (a serial of zero, as
    # some old roots have); _serial reports them as notes instead
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        cert = x509.load_der_x509_certificate(der)
        # names, extensions and the key are parsed on first use: a malformed one (a name
        # that is not UTF-8, say) must be this certificate's problem here, not a crash later
        try:
            cert.subject.rfc4514_string()
            cert.issuer.rfc4514_string()
            _ = cert.extensions
            cert.public_key()
        except (ValueError, UnsupportedAlgorithm, x509.DuplicateExtension) as exc:
            raise ValueError(str(exc) or type(exc).__name__) from exc
        return cert


def _serial(cert: x509.Certificate, notes: list[str]) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CryptographyDeprecationWarning)
        serial = cert.serial_number
    if caught or serial <= 0:
        notes.append("serial number is not positive, which RFC 5280 forbids")
    return format(serial, "x")


def _first_element(der: bytes) -> bytes:
    """The first DER element of ``der`` (or ``der`` itself if its length cannot be read)."""
    if len(der) < 2:
        return der
    first = der[1]
    if first < 0x80:
        return der[: 2 + first]
    width = first & 0x7F
    if width == 0 or len(der) < 2 + width:
        return der
    length = int.from_bytes(der[2 : 2 + width], "big")
    return der[: 2 + width + length]


def _read_der(data: bytes, source: str) -> Parsed:
    try:
        cert = load_der(data)
    except ValueError:
        reason = "no PEM certificate blocks, and not a DER certificate"
        return Parsed(problems=(Problem(source, "", reason),))
    return Parsed(certs=(Located(cert, source, "DER"),))


# --- describing -------------------------------------------------------------------------


def display_name(name: x509.Name) -> str:
    """A name's common name, else its organisational unit or organisation, else all of it."""
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.ORGANIZATION_NAME):
        attrs = name.get_attributes_for_oid(oid)
        if attrs:
            value = attrs[0].value
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return name.rfc4514_string()


def describe_key(cert: x509.Certificate) -> tuple[str, int | None, str]:
    """(type, size in bits, detail) of a certificate's public key."""
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        return "unknown", None, str(exc)
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, ""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, key.curve.name
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, ""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, ""
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, ""
    return type(key).__name__, None, ""


def signature_name(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    name = oid._name  # cryptography's registry name, e.g. sha256WithRSAEncryption
    return oid.dotted_string if not name or name == "Unknown OID" else name


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER encoding, lowercase hex (what ``openssl x509 -fingerprint`` shows)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


class Verdict(StrEnum):
    """Whether one key verifies one certificate's signature."""

    VERIFIED = "verified"
    MISMATCH = "mismatch"
    UNSUPPORTED = "unsupported"


def check_signature(cert: x509.Certificate, issuer: x509.Certificate) -> tuple[Verdict, str]:
    """Verify ``cert``'s signature with ``issuer``'s public key.

    Done with the key primitives rather than ``verify_directly_issued_by``, which refuses
    SHA-1 and MD5: those signatures must still be checked to be flagged.
    """
    try:
        key = issuer.public_key()
        sig, data = cert.signature, cert.tbs_certificate_bytes
        params = cert.signature_algorithm_parameters
        if isinstance(key, rsa.RSAPublicKey):
            digest = cert.signature_hash_algorithm
            if params is None:  # cryptography names no padding for MD5; it can only be PKCS#1
                params = padding.PKCS1v15()
            if digest is None or not isinstance(params, padding.PKCS1v15 | padding.PSS):
                return Verdict.UNSUPPORTED, "not an RSA signature"
            key.verify(sig, data, params, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(params, ec.ECDSA):
                return Verdict.UNSUPPORTED, "not an ECDSA signature"
            key.verify(sig, data, params)
        elif isinstance(key, dsa.DSAPublicKey):
            digest = cert.signature_hash_algorithm
            if digest is None:
                return Verdict.UNSUPPORTED, "not a DSA signature"
            key.verify(sig, data, digest)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(sig, data)
        else:
            return Verdict.UNSUPPORTED, f"{type(key).__name__} keys are not supported"
    except InvalidSignature:
        return Verdict.MISMATCH, "signature does not verify"
    except (UnsupportedAlgorithm, ValueError, TypeError) as exc:
        return Verdict.UNSUPPORTED, str(exc) or type(exc).__name__
    return Verdict.VERIFIED, ""


def inspect_bundle(
    bundle: Bundle, now: datetime, warn_days: int = DEFAULT_WARN_DAYS
) -> list[CertReport]:
    """Describe and flag every certificate of ``bundle`` at time ``now`` (timezone-aware).

    A certificate that appears twice (same SHA-256) is reported once, at its first place.
    """
    unique: list[Located] = []
    seen: dict[str, int] = {}
    duplicates: dict[int, list[str]] = {}
    for item in bundle.certs:
        fp = fingerprint(item.cert)
        if fp in seen:
            duplicates.setdefault(seen[fp], []).append(_at(item))
            continue
        seen[fp] = len(unique)
        unique.append(item)
    by_subject: dict[x509.Name, list[int]] = {}
    for i, item in enumerate(unique):
        by_subject.setdefault(item.cert.subject, []).append(i)
    return [
        _report(bundle.name, i, item, unique, by_subject, duplicates.get(i, []), now, warn_days)
        for i, item in enumerate(unique)
    ]


def _at(item: Located) -> str:
    return f"{item.source} {item.position}"


def _report(
    bundle: str,
    i: int,
    item: Located,
    unique: Sequence[Located],
    by_subject: dict[x509.Name, list[int]],
    duplicates: Iterable[str],
    now: datetime,
    warn_days: int,
) -> CertReport:
    cert = item.cert
    notes = [f"also at {where}" for where in duplicates]
    issuers: list[int] = []
    self_signed = False
    for j in by_subject.get(cert.issuer, []):
        verdict, why = check_signature(cert, unique[j].cert)
        if verdict is Verdict.VERIFIED:
            issuers.append(j + 1)
            self_signed = self_signed or j == i
        elif j == i:
            notes.append(f"issuer name is its own subject, but its own key: {why}")
        else:
            notes.append(f"certificate #{j + 1} has the issuer's name, but its key: {why}")
    issued_by = (i + 1) if self_signed else (issuers[0] if issuers else None)

    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    flags: list[Flag] = []
    if now > not_after:
        flags.append(Flag.EXPIRED)
    elif not_after <= now + timedelta(days=warn_days):
        flags.append(Flag.EXPIRING)
    if now < not_before:
        flags.append(Flag.NOT_YET_VALID)
    key_type, key_size, key_detail = describe_key(cert)
    minimum = {"RSA": MIN_RSA_BITS, "DSA": MIN_DSA_BITS, "EC": MIN_EC_BITS}.get(key_type)
    if minimum is not None and key_size is not None and key_size < minimum:
        flags.append(Flag.WEAK_KEY)
    oid = cert.signature_algorithm_oid
    weak_sig = Flag.SHA1 if oid in _SHA1_OIDS else Flag.MD5 if oid in _MD5_OIDS else None
    if weak_sig is not None and not self_signed:
        flags.append(weak_sig)
    if issued_by is None:
        flags.append(Flag.ISSUER_NOT_IN_BUNDLE)
    return CertReport(
        bundle=bundle,
        index=i + 1,
        source=item.source,
        position=item.position,
        subject=cert.subject.rfc4514_string(),
        subject_cn=display_name(cert.subject),
        issuer=cert.issuer.rfc4514_string(),
        issuer_cn=display_name(cert.issuer),
        serial=_serial(cert, notes),
        not_before=not_before,
        not_after=not_after,
        days_left=(not_after - now) // timedelta(days=1),
        key_type=key_type,
        key_size=key_size,
        key_detail=key_detail,
        signature_algorithm=signature_name(cert),
        sha256=fingerprint(cert),
        self_signed=self_signed,
        issued_by=issued_by,
        issuers=tuple(issuers),
        flags=tuple(flags),
        notes=tuple(notes),
    )


__all__ = [
    "Bundle",
    "CertReport",
    "Flag",
    "Located",
    "Parsed",
    "Problem",
    "check_signature",
    "display_name",
    "inspect_bundle",
    "load_der",
    "read_certificates",
]
