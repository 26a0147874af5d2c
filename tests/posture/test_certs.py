"""``trailguard certs``: reading bundles, inspecting certificates, fetching, the command.

Every certificate here is made by the test with ``cryptography`` (keys generated at run
time); the https:// and host:port cases talk to a real TLS server on 127.0.0.1 started by
the test.  cryptography no longer signs with SHA-1 or MD5, so those certificates are
assembled by hand: the to-be-signed part is made by the builder, its algorithm identifier
swapped, and the signature made with the RSA primitive.

The helpers live in this one file because tests/ has no packages to share them through.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import http.server
import io
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from trailguard.cli import app
from trailguard.findings.store import FindingFilter, Store
from trailguard.posture.certs import (
    Bundle,
    CertReport,
    Flag,
    Located,
    Verdict,
    check_signature,
    inspect_bundle,
    read_certificates,
)
from trailguard.posture.certs_command import parse_fail_on
from trailguard.posture.certs_fetch import (
    LEAF_ONLY_NOTE,
    FetchOptions,
    load_folder,
    load_server,
    load_source,
    parse_server,
    served_chain,
    url_context,
)
from trailguard.posture.certs_findings import certificate_hits

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

# --- making certificates --------------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "trailguard tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def _builder(
    cn: str,
    key: PrivateKey,
    issuer_name: x509.Name,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
    san: x509.GeneralName | None,
    serial: int | None,
) -> x509.CertificateBuilder:
    b = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san is not None:
        b = b.add_extension(x509.SubjectAlternativeName([san]), critical=False)
    return b


def make(
    cn: str,
    issuer: Made | None = None,
    *,
    key: PrivateKey | None = None,
    not_before: datetime = NOW - 30 * DAY,
    not_after: datetime = NOW + 365 * DAY,
    ca: bool = True,
    issuer_name: x509.Name | None = None,
    signing_key: PrivateKey | None = None,
    san: x509.GeneralName | None = None,
    serial: int | None = None,
) -> Made:
    """A certificate for ``cn``: self-signed without ``issuer``, else signed by it.

    ``issuer_name``/``signing_key`` override what the certificate claims and who signs it.
    """
    key = key or ec_key()
    claimed = issuer_name or (issuer.cert.subject if issuer else name(cn))
    signer = signing_key or (issuer.key if issuer else key)
    b = _builder(cn, key, claimed, not_before, not_after, ca, san, serial)
    digest = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Made(b.sign(signer, digest), key)


_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")  # OID 1.2.840.113549.1.1.11
_OLD_RSA = {
    "sha1": bytes.fromhex("06092a864886f70d010105"),
    "md5": bytes.fromhex("06092a864886f70d010104"),
}


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def make_old_signature(
    cn: str, issuer: Made | None, digest: str, *, key: PrivateKey | None = None
) -> Made:
    """A certificate signed with SHA-1 or MD5 by an RSA ``issuer`` (or itself)."""
    key = key or ec_key()
    signer = issuer.key if issuer else key
    assert isinstance(signer, rsa.RSAPrivateKey)
    claimed = issuer.cert.subject if issuer else name(cn)
    modern = _builder(cn, key, claimed, NOW - DAY, NOW + 365 * DAY, True, None, None).sign(
        signer, hashes.SHA256()
    )
    tbs = modern.tbs_certificate_bytes
    assert tbs.count(_SHA256_RSA) == 1
    tbs = tbs.replace(_SHA256_RSA, _OLD_RSA[digest])
    algorithm = hashes.SHA1() if digest == "sha1" else hashes.MD5()
    signature = signer.sign(tbs, padding.PKCS1v15(), algorithm)
    der = _der(
        0x30, tbs + _der(0x30, _OLD_RSA[digest] + b"\x05\x00") + _der(0x03, b"\x00" + signature)
    )
    return Made(x509.load_der_x509_certificate(der), key)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


@dataclass(frozen=True)
class Chain:
    root: Made
    intermediate: Made
    leaf: Made


@pytest.fixture(scope="module")
def chain() -> Chain:
    root = make("Test Root CA")
    intermediate = make("Test Intermediate CA", root)
    leaf = make("leaf.example", intermediate, ca=False)
    return Chain(root, intermediate, leaf)


def bundle(*made: Made, name: str = "bundle.pem") -> Bundle:
    return Bundle(
        name, tuple(Located(m.cert, name, f"block {i}") for i, m in enumerate(made, start=1))
    )


def by_cn(reports: list[CertReport]) -> dict[str, CertReport]:
    return {r.subject_cn: r for r in reports}


def pem_file(path: Path, *parts: bytes | str) -> Path:
    path.write_bytes(b"".join(p.encode() if isinstance(p, str) else p for p in parts))
    return path


# --- inspecting -----------------------------------------------------------------------------


def test_a_valid_chain_is_linked_by_signatures_in_any_order(chain: Chain) -> None:
    reports = by_cn(inspect_bundle(bundle(chain.leaf, chain.root, chain.intermediate), NOW))
    leaf, root, inter = (
        reports["leaf.example"],
        reports["Test Root CA"],
        reports["Test Intermediate CA"],
    )
    assert (leaf.index, root.index, inter.index) == (1, 2, 3)
    assert leaf.issued_by == 3 and inter.issued_by == 2 and root.issued_by == 2
    assert root.self_signed and not inter.self_signed and not leaf.self_signed
    assert all(r.flags == () for r in reports.values())
    assert leaf.issuer_cn == "Test Intermediate CA"
    assert leaf.subject == "CN=leaf.example,O=trailguard tests"


def test_certificate_details(chain: Chain) -> None:
    [root] = inspect_bundle(bundle(chain.root), NOW)
    assert root.sha256 == chain.root.sha256
    assert root.serial == format(chain.root.cert.serial_number, "x")
    assert (root.key_type, root.key_size, root.key_detail) == ("EC", 256, "secp256r1")
    assert root.key == "EC 256 (secp256r1)"
    assert root.signature_algorithm == "ecdsa-with-SHA256"
    assert root.not_after == chain.root.cert.not_valid_after_utc
    assert root.days_left == 365
    assert root.as_dict()["not_after"].endswith("Z")


def test_rsa_and_ed25519_keys_are_described_and_verified(rsa_key: rsa.RSAPrivateKey) -> None:
    root = make("RSA Root", key=rsa_key)
    ed = make("Ed Leaf", root, key=ed25519.Ed25519PrivateKey.generate())
    ed_root = make("Ed Root", key=ed25519.Ed25519PrivateKey.generate())
    reports = by_cn(inspect_bundle(bundle(root, ed, ed_root), NOW))
    assert reports["RSA Root"].key == "RSA 2048"
    assert reports["RSA Root"].signature_algorithm == "sha256WithRSAEncryption"
    assert reports["Ed Leaf"].key == "Ed25519 256" and reports["Ed Leaf"].issued_by == 1
    assert reports["Ed Root"].self_signed and reports["Ed Root"].signature_algorithm == "ed25519"


@pytest.mark.parametrize(
    ("not_before", "not_after", "warn_days", "flags", "days_left"),
    [
        (NOW - 400 * DAY, NOW - 10 * DAY, 30, (Flag.EXPIRED,), -10),
        (NOW - 400 * DAY, NOW - timedelta(seconds=1), 30, (Flag.EXPIRED,), -1),
        (NOW + 10 * DAY, NOW + 400 * DAY, 30, (Flag.NOT_YET_VALID,), 400),
        (NOW - DAY, NOW + 10 * DAY, 30, (Flag.EXPIRING,), 10),
        (NOW - DAY, NOW + 30 * DAY, 30, (Flag.EXPIRING,), 30),
        (NOW - DAY, NOW + 31 * DAY, 30, (), 31),
        (NOW - DAY, NOW + 10 * DAY, 0, (), 10),
        (NOW - DAY, NOW + 80 * DAY, 90, (Flag.EXPIRING,), 80),
    ],
)
def test_validity_flags(
    not_before: datetime,
    not_after: datetime,
    warn_days: int,
    flags: tuple[Flag, ...],
    days_left: int,
) -> None:
    cert = make("dated", not_before=not_before, not_after=not_after)
    [report] = inspect_bundle(bundle(cert), NOW, warn_days)
    assert report.flags == flags
    assert report.days_left == days_left


def test_a_missing_intermediate_breaks_the_chain(chain: Chain) -> None:
    reports = by_cn(inspect_bundle(bundle(chain.leaf, chain.root), NOW))
    assert reports["leaf.example"].flags == (Flag.ISSUER_NOT_IN_BUNDLE,)
    assert reports["leaf.example"].issued_by is None
    assert reports["Test Root CA"].flags == ()


def test_a_name_alone_does_not_make_an_issuer(chain: Chain) -> None:
    # claims the intermediate as issuer, but is signed by another key
    forged = make(
        "forged.example",
        issuer_name=chain.intermediate.cert.subject,
        signing_key=ec_key(),
        ca=False,
    )
    reports = by_cn(inspect_bundle(bundle(chain.root, chain.intermediate, forged), NOW))
    bad = reports["forged.example"]
    assert bad.issuer_cn == "Test Intermediate CA"
    assert bad.issued_by is None and bad.issuers == ()
    assert bad.flags == (Flag.ISSUER_NOT_IN_BUNDLE,)
    assert any("#2" in n and "does not verify" in n for n in bad.notes), bad.notes


def test_a_self_named_certificate_signed_by_another_key_is_not_a_root() -> None:
    fake_root = make("Fake Root", signing_key=ec_key())
    [report] = inspect_bundle(bundle(fake_root), NOW)
    assert not report.self_signed
    assert report.flags == (Flag.ISSUER_NOT_IN_BUNDLE,)
    assert any("own key" in n for n in report.notes)


def test_a_cross_signed_ca_has_every_issuer(chain: Chain) -> None:
    other_root = make("Other Root CA")
    key = ec_key()
    ca_by_root = make("Shared CA", chain.root, key=key)
    ca_by_other = make("Shared CA", other_root, key=key)
    leaf = make("shared.example", ca_by_root, ca=False)
    reports = inspect_bundle(bundle(leaf, ca_by_root, ca_by_other, chain.root, other_root), NOW)
    assert reports[0].issuers == (2, 3) and reports[0].issued_by == 2


def test_check_signature_verdicts(chain: Chain) -> None:
    assert check_signature(chain.leaf.cert, chain.intermediate.cert)[0] is Verdict.VERIFIED
    assert check_signature(chain.leaf.cert, chain.root.cert)[0] is Verdict.MISMATCH


@pytest.mark.parametrize(
    ("curve_or_bits", "weak"),
    [
        (1024, True),
        (2048, False),
        (ec.SECP192R1(), True),
        (ec.SECP224R1(), True),
        (ec.SECP256R1(), False),
        (ec.SECP384R1(), False),
    ],
    ids=["rsa1024", "rsa2048", "p192", "p224", "p256", "p384"],
)
def test_weak_keys(
    curve_or_bits: int | ec.EllipticCurve, weak: bool, rsa_key: rsa.RSAPrivateKey
) -> None:
    key: PrivateKey
    if isinstance(curve_or_bits, int):
        key = rsa_key if curve_or_bits == 2048 else rsa.generate_private_key(65537, curve_or_bits)
    else:
        key = ec_key(curve_or_bits)
    [report] = inspect_bundle(bundle(make("keyed", key=key)), NOW)
    assert (Flag.WEAK_KEY in report.flags) is weak
    assert report.key_size == (
        curve_or_bits if isinstance(curve_or_bits, int) else curve_or_bits.key_size
    )


@pytest.mark.parametrize(("digest", "flag"), [("sha1", Flag.SHA1), ("md5", Flag.MD5)])
def test_old_signatures_are_verified_and_flagged(
    digest: str, flag: Flag, rsa_key: rsa.RSAPrivateKey
) -> None:
    root = make("RSA Root", key=rsa_key)
    leaf = make_old_signature("old.example", root, digest)
    reports = by_cn(inspect_bundle(bundle(root, leaf), NOW))
    old = reports["old.example"]
    assert old.signature_algorithm == f"{digest}WithRSAEncryption"
    assert old.issued_by == 1  # the SHA-1/MD5 signature itself was checked
    assert old.flags == (flag,)


def test_a_roots_own_sha1_signature_is_not_flagged(rsa_key: rsa.RSAPrivateKey) -> None:
    root = make_old_signature("Old Root", None, "sha1", key=rsa_key)
    [report] = inspect_bundle(bundle(root), NOW)
    assert report.self_signed and report.signature_algorithm == "sha1WithRSAEncryption"
    assert report.flags == ()


def test_a_certificate_twice_is_reported_once(chain: Chain) -> None:
    reports = inspect_bundle(bundle(chain.root, chain.leaf, chain.root), NOW)
    assert [r.subject_cn for r in reports] == ["Test Root CA", "leaf.example"]
    assert reports[0].notes == ("also at bundle.pem block 3",)


def test_a_zero_serial_is_a_note_not_a_warning() -> None:
    # filterwarnings = error: cryptography's deprecation warning would fail this test
    cert = make("zero", serial=1)
    der = bytearray(cert.der)
    # serial 1 is encoded as 02 01 01 after the version; make it 02 01 00 (a fresh signature
    # is not needed: a self-signature that no longer verifies is reported, not fatal)
    at = der.index(bytes([0x02, 0x01, 0x01]))
    der[at + 2] = 0
    parsed = read_certificates(bytes(der), "zero.cer")
    [report] = inspect_bundle(Bundle("zero.cer", parsed.certs), NOW)
    assert report.serial == "0"
    assert any("RFC 5280" in n for n in report.notes)


# --- reading files --------------------------------------------------------------------------


def test_malformed_blocks_are_reported_by_position_and_skipped(chain: Chain) -> None:
    leaf_pem = chain.leaf.pem.decode()
    lines = leaf_pem.splitlines()
    broken = "\n".join([lines[0], lines[1][:10] + "!!!" + lines[1][13:], *lines[2:]]) + "\n"
    not_a_cert = (
        "-----BEGIN CERTIFICATE-----\n"
        + base64.encodebytes(b"\x30\x03\x02\x01\x05 not a certificate").decode()
        + "-----END CERTIFICATE-----\n"
    )
    text = (
        "# a comment before the first block\n"
        + chain.root.pem.decode()
        + broken
        + not_a_cert
        + chain.intermediate.pem.decode()
    )
    parsed = read_certificates(text.encode(), "bundle.pem")
    assert [c.cert for c in parsed.certs] == [chain.root.cert, chain.intermediate.cert]
    root_lines = len(chain.root.pem.decode().splitlines())
    second, third = 2 + root_lines, 2 + root_lines + len(lines)
    assert [(p.source, p.position) for p in parsed.problems] == [
        ("bundle.pem", f"line {second} (block 2)"),
        ("bundle.pem", f"line {third} (block 3)"),
    ]
    assert parsed.problems[0].reason == "not valid base64"
    assert parsed.problems[1].reason.startswith("not a certificate")
    fourth = third + len(not_a_cert.splitlines())
    assert parsed.certs[1].position == f"line {fourth} (block 4)"
    assert str(parsed.problems[0]) == f"bundle.pem: line {second} (block 2): not valid base64"


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("-----BEGIN CERTIFICATE-----\nAAAA\n", "line 1 (block 1)", "no END line"),
        ("-----END CERTIFICATE-----\n", "line 1", "END line without a BEGIN"),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n",
            "line 1 (block 1)",
            "BEGIN CERTIFICATE ends with END X509 CRL",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----BEGIN CERTIFICATE-----\n",
            "line 1 (block 1)",
            "no END line before the next BEGIN",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\nAAAA\n"
            "-----END CERTIFICATE-----\n",
            "line 1 (block 1)",
            "headers inside a certificate block",
        ),
    ],
    ids=["no-end", "stray-end", "mismatched", "begin-inside", "headers"],
)
def test_broken_pem_structure(text: str, position: str, reason: str) -> None:
    parsed = read_certificates(text.encode(), "f.pem")
    assert parsed.certs == ()
    assert any(p.position == position and p.reason == reason for p in parsed.problems), (
        parsed.problems
    )


def test_other_blocks_are_skipped_with_a_note(chain: Chain) -> None:
    key_pem = ec_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    parsed = read_certificates(key_pem + chain.root.pem, "mixed.pem")
    assert [c.cert for c in parsed.certs] == [chain.root.cert]
    assert parsed.problems == ()
    assert parsed.notes == (
        "mixed.pem: line 1 (block 1): a PRIVATE KEY block, not a certificate: skipped",
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty: no certificates"),
        (b"  \n\n", "empty: no certificates"),
        (
            b"\x30\x82\x01\x00garbage that is not DER",
            "no PEM certificate blocks, and not a DER certificate",
        ),
        (b"<html>not found</html>", "no PEM certificate blocks, and not a DER certificate"),
    ],
    ids=["empty", "blank", "der-garbage", "html"],
)
def test_files_without_certificates(data: bytes, reason: str) -> None:
    parsed = read_certificates(data, "x.crt")
    assert parsed.certs == ()
    assert [(p.source, p.reason) for p in parsed.problems] == [("x.crt", reason)]


def test_a_der_file_is_one_certificate(chain: Chain) -> None:
    parsed = read_certificates(chain.leaf.der, "leaf.cer")
    assert [c.cert for c in parsed.certs] == [chain.leaf.cert]
    assert parsed.certs[0].position == "DER"


def test_openssl_trusted_certificate_blocks(chain: Chain) -> None:
    aux = bytes([0x30, 0x03, 0x0C, 0x01, 0x78])  # trust settings after the certificate
    body = base64.encodebytes(chain.root.der + aux).decode()
    text = f"-----BEGIN TRUSTED CERTIFICATE-----\n{body}-----END TRUSTED CERTIFICATE-----\n"
    parsed = read_certificates(text.encode(), "trusted.pem")
    assert [c.cert for c in parsed.certs] == [chain.root.cert]


def test_a_folder_is_one_bundle_of_its_certificate_files(tmp_path: Path, chain: Chain) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    pem_file(tmp_path / "root.PEM", chain.root.pem)
    pem_file(tmp_path / "sub" / "inter.crt", chain.intermediate.pem)
    (tmp_path / "sub" / "deeper" / "leaf.cer").write_bytes(chain.leaf.der)
    pem_file(tmp_path / "ignored.txt", make("ignored").pem)
    pem_file(tmp_path / "sub" / "empty.pem", b"")
    loaded = load_folder(tmp_path)
    assert {c.cert.subject for c in loaded.certs} == {
        chain.root.cert.subject,
        chain.intermediate.cert.subject,
        chain.leaf.cert.subject,
    }
    assert [p.source for p in loaded.problems] == [str(tmp_path / "sub" / "empty.pem")]
    reports = by_cn(inspect_bundle(loaded, NOW))
    leaf = reports["leaf.example"]
    assert leaf.source == str(tmp_path / "sub" / "deeper" / "leaf.cer")
    assert reports["Test Intermediate CA"].index == leaf.issued_by
    assert leaf.flags == ()


def test_a_folder_without_certificate_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing")
    loaded = load_folder(tmp_path)
    assert loaded.certs == ()
    assert "no .pem, .crt, .cer files" in loaded.problems[0].reason


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("example.com:443", ("example.com", 443)),
        ("127.0.0.1:8443", ("127.0.0.1", 8443)),
        ("[::1]:443", ("::1", 443)),
        ("example.com:0", None),
        ("example.com:70000", None),
        ("example.com", None),
        ("::1:443", None),
        ("a/b.pem", None),
    ],
)
def test_parse_server(spec: str, expected: tuple[str, int] | None) -> None:
    assert parse_server(spec) == expected


def test_sources_that_cannot_be_read(tmp_path: Path) -> None:
    options = FetchOptions(url_context(), timeout=2)
    plain = load_source("http://127.0.0.1:9/bundle.pem", options)
    assert plain.certs == () and "give an https:// URL" in plain.problems[0].reason
    missing = load_source(str(tmp_path / "nope.pem"), options)
    assert missing.problems[0].reason.startswith("no such file or folder")


def test_a_bad_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    from trailguard.errors import ConfigError

    with pytest.raises(ConfigError, match="--ca-file"):
        url_context(str(tmp_path / "missing.pem"))


# --- findings -------------------------------------------------------------------------------


def test_flags_become_findings_once_per_certificate_and_flag(tmp_path: Path) -> None:
    root = make("Findings Root")
    expired = make("old.example", root, not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    soon = make("soon.example", root, not_before=NOW - DAY, not_after=NOW + 10 * DAY)
    later = make("later.example", not_before=NOW - DAY, not_after=NOW + 60 * DAY)
    reports = inspect_bundle(bundle(root, expired, soon, later), NOW, warn_days=90)
    hits = certificate_hits(reports, NOW)
    got = {(h.finding_type, h.resource_key): h.severity for h in hits}
    assert got == {
        ("Policy:Certificate/Expired", expired.sha256): 9.0,
        ("Policy:Certificate/Expiring", soon.sha256): 7.0,
        ("Policy:Certificate/Expiring", later.sha256): 5.0,
    }
    assert {h.feature for h in hits} == {"Posture"}
    store = Store.open(tmp_path / "f.db")
    try:
        first = store.record_hits(hits, 1000)
        again = store.record_hits(certificate_hits(reports, NOW + DAY), 2000)
        assert (len(first.new), len(again.new), len(again.updated)) == (3, 0, 3)
        found = store.list_findings(FindingFilter(types=("Policy:Certificate/Expired",)))
        assert len(found) == 1
        assert found[0]["service"]["count"] == 1  # the same occurrence, seen again
        assert found[0]["title"] == f"Certificate old.example expired on {(NOW - DAY).date()}"
        assert found[0]["resource"]["certificateDetails"]["sha256"] == expired.sha256
    finally:
        store.close()


# --- servers on 127.0.0.1 -------------------------------------------------------------------

PROXY_ENV = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "http_proxy", "HTTP_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours proxy settings: the local server must be reached directly."""
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)


@dataclass(frozen=True)
class Server:
    port: int
    ca_file: Path  # the root that the server's chain leads to
    chain: Chain
    bundle: bytes

    def url(self, path: str = "/bundle.pem") -> str:
        return f"https://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An HTTPS server on 127.0.0.1 whose certificate chain (leaf + intermediate) the test made.

    It serves ``/bundle.pem`` (a root, an expired certificate and a malformed block), 404 for
    other paths, and ``/to-http`` / ``/to-https`` redirects.
    """
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.now(UTC)
    dates: dict[str, Any] = {"not_before": now - DAY, "not_after": now + 365 * DAY}
    root = make("Server Test Root", **dates)
    inter = make("Server Test Intermediate", root, **dates)
    leaf = make(
        "127.0.0.1",
        inter,
        **dates,
        ca=False,
        san=x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    )
    chain_file = pem_file(folder / "chain.pem", leaf.pem, inter.pem)
    key_file = folder / "key.pem"
    key_file.write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ca_file = pem_file(folder / "ca.pem", root.pem)
    expired = make("expired.example", root, not_before=now - 800 * DAY, not_after=now - DAY)
    served = (
        root.pem + b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n" + expired.pem
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/bundle.pem":
                self._send(200, served)
            elif path in ("/to-http", "/to-https"):
                scheme = path.removeprefix("/to-")
                self.send_response(302)
                self.send_header("Location", f"{scheme}://127.0.0.1:{port}/bundle.pem")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(404, b"not here")

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Quiet(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # clients that only handshake (host:port) or reject the certificate

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_file, key_file)
    httpd = Quiet(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Server(port, ca_file, Chain(root, inter, leaf), served)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_an_https_bundle_is_fetched_and_verified_with_the_ca_file(server: Server) -> None:
    loaded = load_source(server.url(), FetchOptions(url_context(str(server.ca_file)), timeout=5))
    assert len(loaded.certs) == 2
    assert loaded.certs[0].cert == server.chain.root.cert
    assert [(p.source, p.position) for p in loaded.problems] == [
        (server.url(), f"line {len(server.chain.root.pem.splitlines()) + 1} (block 2)")
    ]


def test_an_https_bundle_from_an_untrusted_server_is_refused(server: Server) -> None:
    # the default context trusts the system's CAs, and not the test's root
    loaded = load_source(server.url(), FetchOptions(url_context(), timeout=5))
    assert loaded.certs == ()
    assert "CERTIFICATE_VERIFY_FAILED" in loaded.problems[0].reason


def test_insecure_skips_verification(server: Server) -> None:
    loaded = load_source(server.url(), FetchOptions(url_context(insecure=True), timeout=5))
    assert len(loaded.certs) == 2


@pytest.mark.parametrize(
    ("path", "certs", "reason"),
    [
        ("/missing.pem", 0, "HTTP 404 Not Found"),
        ("/to-http", 0, "refused: not https://"),
        ("/to-https", 2, None),
    ],
)
def test_https_errors_and_redirects(
    server: Server, path: str, certs: int, reason: str | None
) -> None:
    loaded = load_source(
        server.url(path), FetchOptions(url_context(str(server.ca_file)), timeout=5)
    )
    assert len(loaded.certs) == certs
    if reason is not None:
        assert reason in loaded.problems[0].reason


def test_a_servers_chain_is_read_unverified(server: Server) -> None:
    loaded = load_server("127.0.0.1", server.port, timeout=5)
    assert [c.cert for c in loaded.certs] == [
        server.chain.leaf.cert,
        server.chain.intermediate.cert,
    ]
    assert loaded.name == f"127.0.0.1:{server.port}"
    assert loaded.certs[0].position == "certificate 1 of 2 sent"
    assert loaded.notes == ()  # this Python exposes the whole chain
    reports = by_cn(inspect_bundle(loaded, datetime.now(UTC)))
    assert reports["127.0.0.1"].issued_by == 2
    assert reports["Server Test Intermediate"].flags == (Flag.ISSUER_NOT_IN_BUNDLE,)


def test_without_a_chain_api_only_the_servers_certificate_is_read(server: Server) -> None:
    class LeafOnly:
        """An SSLSocket as an older Python would offer it: no way to get the chain."""

        def getpeercert(self, binary_form: bool = False) -> bytes:
            return server.chain.leaf.der

    chain, note = served_chain(LeafOnly())  # type: ignore[arg-type]
    assert chain == [server.chain.leaf.der]
    assert note == LEAF_ONLY_NOTE


def test_an_unreachable_server_is_a_problem() -> None:
    loaded = load_server("127.0.0.1", closed_port(), timeout=2)
    assert loaded.certs == ()
    assert loaded.problems[0].reason.startswith("TLS connection failed")


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, ["certs", *args], env={"COLUMNS": "250"})


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Bundles dated around the real clock, as the command reads it."""
    now = datetime.now(UTC)
    root = make("CLI Root", not_before=now - DAY, not_after=now + 900 * DAY)
    inter = make("CLI Intermediate", root, not_before=now - DAY, not_after=now + 600 * DAY)
    leaf = make("cli.example", inter, ca=False, not_before=now - DAY, not_after=now + 200 * DAY)
    expired = make("gone.example", root, not_before=now - 90 * DAY, not_after=now - DAY)
    return {
        "good": pem_file(tmp_path / "good.pem", leaf.pem, root.pem, inter.pem),
        "expired": pem_file(tmp_path / "expired.pem", root.pem, expired.pem),
        "broken": pem_file(tmp_path / "broken.pem", leaf.pem, root.pem),
        "malformed": pem_file(
            tmp_path / "malformed.pem",
            root.pem,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
            inter.pem,
        ),
    }


def test_cli_a_good_chain_exits_0(runner: CliRunner, files: dict[str, Path]) -> None:
    result = run(runner, str(files["good"]))
    assert result.exit_code == 0, result.output
    assert "#3 CLI Intermediate" in result.stdout and "self-signed" in result.stdout
    assert "3 certificates in 1 sources: 0 flagged, 0 unreadable inputs" in result.stdout
    rows = [line.split("│") for line in result.stdout.splitlines() if line.startswith("│")]
    # sorted by expiry: the leaf (#1), the intermediate (#3), the root (#2)
    assert [(r[1].strip(), r[2].strip()) for r in rows] == [
        ("1", "cli.example"),
        ("3", "CLI Intermediate"),
        ("2", "CLI Root"),
    ]


@pytest.mark.parametrize(
    ("name", "fail_on", "code"),
    [
        ("expired", [], 3),
        ("expired", ["--fail-on", "none"], 0),
        ("expired", ["--fail-on", "weak-key,sha1"], 0),
        ("expired", ["--fail-on", "weak-key", "--fail-on", "EXPIRED"], 3),
        ("broken", [], 0),
        ("broken", ["--fail-on", "issuer-not-in-bundle"], 3),
        ("broken", ["--fail-on", "any"], 3),
        ("good", ["--warn-days", "199"], 0),
        ("good", ["--warn-days", "201"], 3),
        ("good", ["--warn-days", "201", "--fail-on", "expired"], 0),
    ],
)
def test_cli_fail_on(
    runner: CliRunner, files: dict[str, Path], name: str, fail_on: list[str], code: int
) -> None:
    result = run(runner, str(files[name]), *fail_on)
    assert result.exit_code == code, result.output


def test_cli_malformed_input_exits_4_and_the_rest_is_inspected(
    runner: CliRunner, files: dict[str, Path], tmp_path: Path
) -> None:
    empty = pem_file(tmp_path / "empty.pem", b"")
    result = run(runner, str(files["malformed"]), str(empty), str(tmp_path / "missing.pem"))
    assert result.exit_code == 4, result.output
    assert "CLI Root" in result.stdout and "CLI Intermediate" in result.stdout
    stderr = result.stderr
    assert f"{files['malformed']}: line " in stderr and "(block 2): not valid base64" in stderr
    assert f"{empty}: empty: no certificates" in stderr
    assert "missing.pem: no such file or folder" in stderr


def test_cli_flags_win_over_unreadable_input(runner: CliRunner, files: dict[str, Path]) -> None:
    result = run(runner, str(files["expired"]), str(files["malformed"]))
    assert result.exit_code == 3, result.output


def test_cli_json(runner: CliRunner, files: dict[str, Path]) -> None:
    result = run(runner, str(files["expired"]), str(files["malformed"]), "--format", "json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert doc["warn_days"] == 30
    first, second = doc["bundles"]
    assert [c["subject_cn"] for c in first["certificates"]] == ["gone.example", "CLI Root"]
    gone = first["certificates"][0]
    assert gone["flags"] == ["EXPIRED"] and gone["issued_by"] == 1 and gone["days_left"] < 0
    assert len(gone["sha256"]) == 64
    assert second["problems"][0]["reason"] == "not valid base64"
    assert second["problems"][0]["position"].endswith("(block 2)")


def test_cli_csv(runner: CliRunner, files: dict[str, Path]) -> None:
    result = run(runner, str(files["broken"]), "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["subject_cn"] for r in rows] == ["cli.example", "CLI Root"]
    assert rows[0]["flags"] == "ISSUER_NOT_IN_BUNDLE" and rows[0]["issued_by"] == ""
    assert rows[1]["self_signed"] == "True" and rows[1]["issued_by"] == "2"


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "yaml"],
        ["--fail-on", "expird"],
        ["--db", "x.db"],
        ["--ca-file", "does-not-exist.pem"],
        ["--warn-days", "-1"],
        ["--warn-days", "100000"],
    ],
)
def test_cli_usage_errors_exit_2(
    runner: CliRunner, files: dict[str, Path], args: list[str]
) -> None:
    result = run(runner, str(files["good"]), *args)
    assert result.exit_code == 2, result.output


def test_cli_needs_a_source(runner: CliRunner) -> None:
    assert run(runner).exit_code == 2


def test_cli_record_stores_flags_as_findings(
    runner: CliRunner, files: dict[str, Path], tmp_path: Path
) -> None:
    db = tmp_path / "findings.db"
    result = run(runner, str(files["expired"]), "--record", "--db", str(db))
    assert result.exit_code == 3, result.output
    assert "recorded 1 flags as findings: 1 new, 0 updated" in result.stderr
    again = run(runner, str(files["expired"]), str(files["broken"]), "--record", "--db", str(db))
    assert "recorded 2 flags as findings: 1 new, 1 updated" in again.stderr
    listed = runner.invoke(app, ["findings", "list", "--db", str(db), "--format", "json"])
    found = {f["type"]: f for f in json.loads(listed.stdout)["Findings"]}
    assert sorted(found) == ["Policy:Certificate/Expired", "Policy:Certificate/IssuerNotInBundle"]
    expired = found["Policy:Certificate/Expired"]
    assert expired["severityLabel"] == "Critical" and expired["service"]["count"] == 1
    assert expired["service"]["evidence"]["firstOccurrence"]["object"] == str(files["expired"])


def test_cli_url_and_server(runner: CliRunner, server: Server) -> None:
    target = f"127.0.0.1:{server.port}"
    result = run(runner, server.url(), target, "--ca-file", str(server.ca_file), "--format", "json")
    assert result.exit_code == 3, result.output  # the served bundle has an expired certificate
    url_bundle, served = json.loads(result.stdout)["bundles"]
    assert url_bundle["source"] == server.url()
    assert [c["subject_cn"] for c in url_bundle["certificates"]] == [
        "expired.example",
        "Server Test Root",
    ]
    assert served["source"] == target
    assert [c["subject_cn"] for c in served["certificates"]] == [
        "127.0.0.1",
        "Server Test Intermediate",
    ]


def test_parse_fail_on() -> None:
    assert parse_fail_on(None) == {
        "EXPIRED",
        "NOT_YET_VALID",
        "EXPIRING",
        "WEAK_KEY",
        "SHA1",
        "MD5",
    }
    assert parse_fail_on(["none"]) == frozenset()
    assert parse_fail_on(["any"]) == {str(f) for f in Flag}
    assert parse_fail_on(["expiring, not_yet_valid"]) == {"EXPIRING", "NOT_YET_VALID"}


def test_secrets_in_a_bundle_url_are_not_shown_or_stored(server: Server) -> None:
    """A presigned URL carries credentials in its query: fetched as given, named without."""
    url = server.url("/bundle.pem?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=s3cret")
    loaded = load_source(url, FetchOptions(url_context(str(server.ca_file)), timeout=5))
    assert len(loaded.certs) == 2
    shown = [loaded.name, *(p.source for p in loaded.problems), *(c.source for c in loaded.certs)]
    assert all("s3cret" not in s and "AKIAEXAMPLE" not in s for s in shown), shown
    assert loaded.name.startswith(server.url("/bundle.pem"))


def test_a_certificate_with_a_malformed_name_is_a_problem_not_a_crash(
    runner: CliRunner, tmp_path: Path
) -> None:
    """cryptography parses names lazily: a CN that is not UTF-8 used to crash the run."""
    good = make("good.example")
    odd = make("ZZZZ")
    der = odd.cert.public_bytes(serialization.Encoding.DER)
    broken = der.replace(b"\x0c\x04ZZZZ", b"\x0c\x04\xff\xfe\xfd\xfc")
    assert broken != der
    path = tmp_path / "bundle.pem"
    body = base64.encodebytes(broken).decode()
    path.write_bytes(
        good.pem + f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode()
    )
    result = run(runner, str(path), "--fail-on", "none")
    assert result.exit_code == 4, result.output
    assert "good.example" in result.output
    assert "not a certificate" in result.output
