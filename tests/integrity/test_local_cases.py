"""Every case of the issue on a local copy: signed fixtures, tampered, verified.

Where ``aws cloudtrail validate-logs`` gets the verdict right, the expected (status,
reason) is the CLI's (spec section 6.1); where it misses something (section 7), the
expected verdict is the one that closes the hole, and the comment says what the CLI does.
"""

from __future__ import annotations

import gzip
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes

from trailguard.integrity.results import EXIT_FAILED, EXIT_OK, SpanKind

H = timedelta(hours=1)


def setup(kit: Any, signer: Any, hours: int = 6, logs: int = 2) -> tuple[Any, Any]:
    bucket = kit.Bucket()
    trail = kit.Trail(bucket, signer)
    trail.run(hours, logs=logs)
    return bucket, trail


def now_after(kit: Any, hours: int) -> Any:
    # the last digest ends at T0 + (hours - 1) h; 2.5 h later it is due, the next is not
    return kit.T0 + (hours - 1) * H + timedelta(hours=2, minutes=30)


def run(kit: Any, bucket: Any, tmp_path: Path, keys: list[Any], hours: int = 6, **kw: Any) -> Any:
    root = bucket.to_dir(tmp_path / "copy")
    return kit.verify_dir(root, keys, now=kw.pop("now", now_after(kit, hours)), **kw)


def test_clean_chain_is_all_valid(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail = setup(kit, signer)
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    v = kit.verdicts(report)
    assert len(v) == 6 + 12
    assert set(v.values()) == {("valid", None)}
    assert report.spans == []
    assert report.exit_status() == EXIT_OK
    # newest first, each digest followed by its log files (the CLI's order)
    assert report.files[0].key == trail.keys[-1]
    assert [r.kind for r in report.files[:3]] == ["digest", "log", "log"]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("modified", ("INVALID", "hash-mismatch")),
        ("deleted", ("INVALID", "not-found")),
        ("not-gzip", ("INVALID", "invalid-format")),
        ("zero-byte", ("INVALID", "hash-mismatch")),
        ("cut-short", ("INVALID", "hash-mismatch")),
        ("bad-crc", ("INVALID", "invalid-format")),
        ("recompressed", ("valid", None)),  # the hash covers decompressed bytes (CLI: valid)
        ("appended-member", ("INVALID", "extra-data")),  # CLI: valid (section 7.4)
        ("trailer-stripped", ("INVALID", "invalid-format")),  # CLI: valid (section 7.14)
    ],
)
def test_log_tampering(
    kit: Any, signer: Any, tmp_path: Path, tamper: str, expected: tuple[str, str | None]
) -> None:
    bucket, _ = setup(kit, signer)
    victim = bucket.logs()[3]
    obj = bucket.objects[victim]
    raw = gzip.decompress(obj.data)
    if tamper == "modified":
        obj.data = kit.gz(raw.replace(b"GetObject", b"PutObject"))
    elif tamper == "deleted":
        del bucket.objects[victim]
    elif tamper == "not-gzip":
        obj.data = raw
    elif tamper == "zero-byte":
        obj.data = b""
    elif tamper == "cut-short":
        obj.data = obj.data[: len(obj.data) // 2]
    elif tamper == "bad-crc":
        data = bytearray(obj.data)
        data[-6] ^= 0xFF
        obj.data = bytes(data)
    elif tamper == "recompressed":
        c = zlib.compressobj(1, zlib.DEFLATED, 31)
        obj.data = c.compress(raw) + c.flush()
    elif tamper == "appended-member":
        obj.data += kit.gz(b'{"Records":[{"eventName":"Forged"}]}')
    elif tamper == "trailer-stripped":
        obj.data = obj.data[:-8]
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    v = kit.verdicts(report)
    assert v[victim] == expected
    others = {k: s for k, s in v.items() if k != victim}
    assert set(others.values()) == {("valid", None)}
    assert report.exit_status() == (EXIT_OK if expected[0] == "valid" else EXIT_FAILED)


def test_deleted_middle_digest(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail = setup(kit, signer)
    gone = trail.keys[2]
    its_logs = [e["s3Object"] for e in bucket.digest_doc(gone)["logFiles"]]
    del bucket.objects[gone]
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    v = kit.verdicts(report)
    assert v[gone] == ("INVALID", "not-found")  # CLI: M2, the key the next digest names
    for k in its_logs:  # CLI: not reported at all (section 7.3)
        assert v[k] == ("unverified", "digest-missing-or-invalid")
    valid_digests = [k for k in trail.keys if k != gone]
    assert all(v[k] == ("valid", None) for k in valid_digests)
    assert report.exit_status() == EXIT_FAILED


def test_modified_digest_and_its_altered_log(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail = setup(kit, signer)
    target = trail.keys[3]
    victim = bucket.digest_doc(target)["logFiles"][0]["s3Object"]
    bucket.objects[victim].data = kit.gz(b'{"Records":[]}')
    new_hash = "0" * 64

    def alter(doc: dict[str, Any]) -> None:
        doc["logFiles"][0]["hashValue"] = new_hash

    bucket.edit_digest(target, alter)
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    v = kit.verdicts(report)
    assert v[target] == ("INVALID", "signature-failure")  # CLI: M3
    assert v[victim] == ("unverified", "digest-missing-or-invalid")  # CLI: silent
    assert "listed by INVALID digest" in next(r for r in report.files if r.key == victim).detail


def test_wrong_signature_unknown_key_and_missing_signature(
    kit: Any, signer: Any, other_signer: Any, tmp_path: Path
) -> None:
    bucket = kit.Bucket()
    trail = kit.Trail(bucket, signer)
    trail.run(2)
    # signed by another key under this key's fingerprint
    impostor = kit.Signer(other_signer.private)
    forged = trail.hour(kit.T0 + 2 * H, signer=impostor)
    bucket.edit_digest(forged, lambda d: d.update(digestPublicKeyFingerprint=signer.fingerprint))
    unknown = trail.hour(kit.T0 + 3 * H, signer=other_signer)
    unsigned = trail.hour(kit.T0 + 4 * H)
    del bucket.objects[unsigned].metadata["signature"]
    nonhex = trail.hour(kit.T0 + 5 * H)
    bucket.objects[nonhex].metadata["signature"] = "zz" * 256
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    v = kit.verdicts(report)
    assert v[forged] == ("INVALID", "signature-failure")
    assert v[unknown] == ("INVALID", "unknown-public-key")
    assert v[unsigned] == ("INVALID", "signature-missing")  # CLI: "signature verification failed"
    assert v[nonhex] == ("INVALID", "signature-failure")  # CLI: M9 with Python's error text
    assert v[trail.keys[0]] == ("valid", None)
    lines = [r.line() for r in report.files]
    assert any(
        line.endswith(
            f"INVALID: public key not found (region us-east-1, fingerprint "
            f"{other_signer.fingerprint})"
        )
        for line in lines
    )


def test_moved_or_replayed_digest(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail = setup(kit, signer)
    # replay hour 1's digest (and metadata) in place of hour 4's
    src, dst = trail.keys[1], trail.keys[4]
    bucket.objects[dst] = kit.Obj(bucket.objects[src].data, dict(bucket.objects[src].metadata))
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    v = kit.verdicts(report)
    assert v[dst] == ("INVALID", "moved")
    line = next(r.line() for r in report.files if r.key == dst)
    assert "INVALID: has been moved from its original location" in line


def test_key_rotation_and_spki_keys(
    kit: Any, signer: Any, other_signer: Any, tmp_path: Path
) -> None:
    bucket = kit.Bucket()
    spki = kit.Signer(other_signer.private, spki=True)  # the CLI rejects it (section 7.7)
    trail = kit.Trail(bucket, signer)
    trail.run(3)
    for i in range(3, 6):
        trail.hour(kit.T0 + i * H, signer=spki)
    report = run(kit, bucket, tmp_path, [signer.public_key(), spki.public_key()])
    assert set(kit.verdicts(report).values()) == {("valid", None)}
    assert report.exit_status() == EXIT_OK


def test_empty_hour(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket = kit.Bucket()
    trail = kit.Trail(bucket, signer)
    trail.run(2)
    empty = trail.hour(kit.T0 + 2 * H, logs=0)
    trail.hour(kit.T0 + 3 * H)
    report = run(kit, bucket, tmp_path, [signer.public_key()], hours=4)
    assert bucket.digest_doc(empty)["logFiles"] == []
    assert set(kit.verdicts(report).values()) == {("valid", None)}
    assert report.exit_status() == EXIT_OK


def test_trail_stopped_and_restarted_is_a_gap(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket = kit.Bucket()
    trail = kit.Trail(bucket, signer)
    trail.run(3)
    trail.hour(kit.T0 + 6 * H, restart=True)
    trail.hour(kit.T0 + 7 * H)
    report = run(kit, bucket, tmp_path, [signer.public_key()], hours=8)
    assert set(kit.verdicts(report).values()) == {("valid", None)}
    # the CLI prints a notice and exits 0 (section 7.8); an unverified stretch is a failure
    (gap,) = report.spans
    assert gap.kind is SpanKind.GAP
    assert (gap.start, gap.end) == (kit.T0 + 2 * H, kit.T0 + 5 * H)
    assert report.exit_status() == EXIT_FAILED


def test_backfill_digests(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail = setup(kit, signer)
    late = [trail.log(kit.T0 + 2 * H + timedelta(minutes=5))]
    good = trail.hour(kit.T0 + 2 * H + timedelta(minutes=20), backfill=True, log_files=late)
    bad = trail.hour(kit.T0 + 3 * H + timedelta(minutes=20), backfill=True, logs=1)
    del bucket.objects[bad].metadata["backfill-generation-timestamp"]
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    v = kit.verdicts(report)
    assert v[good] == ("valid", None)
    assert v[late[0][0]] == ("valid", None)
    assert v[bad] == ("INVALID", "invalid-format")  # CLI: M1
    assert next(r for r in report.files if r.key == good).line().startswith("(backfill) Digest")


def test_window_mid_chain(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail = setup(kit, signer, hours=8)
    # 1 h 40 min inside the chain: the CLI checks 3 digests (the one straddling the start,
    # and those stamped up to end + 1 h)
    start = kit.T0 + H + timedelta(minutes=50)
    end = start + timedelta(hours=1, minutes=40)
    report = run(kit, bucket, tmp_path, [signer.public_key()], hours=8, start=start, end=end)
    digests = [r.key for r in report.files if r.kind == "digest"]
    assert digests == [trail.keys[4], trail.keys[3], trail.keys[2]]
    assert report.spans == []
    assert report.exit_status() == EXIT_OK


def test_newest_digests_deleted(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail = setup(kit, signer)
    for k in trail.keys[-2:]:
        del bucket.objects[k]
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    # CLI: a shorter "found" range and exit 0 (section 7.1)
    (span,) = report.spans
    assert span.kind is SpanKind.DIGESTS_MISSING
    assert span.start == trail_end(kit, trail, 3)
    assert report.exit_status() == EXIT_FAILED
    unverified = [r for r in report.files if r.status.value == "unverified"]
    assert len(unverified) == 4


def trail_end(kit: Any, trail: Any, i: int) -> Any:
    return kit.T0 + i * H


def test_all_digests_deleted(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail = setup(kit, signer)
    for k in trail.keys:
        del bucket.objects[k]
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    # CLI: "No digests found", exit 0 (section 7.1)
    assert report.nothing_found
    assert [s.kind for s in report.spans] == [SpanKind.DIGESTS_MISSING]
    assert {r.status.value for r in report.files} == {"unverified"}
    assert report.exit_status() == EXIT_FAILED


def test_empty_bucket_is_not_clean(kit: Any, tmp_path: Path) -> None:
    (tmp_path / "copy" / "AWSLogs").mkdir(parents=True)
    report = kit.verify_dir(tmp_path / "copy", [], now=kit.T0)
    assert report.nothing_found
    assert report.exit_status() == EXIT_FAILED


def test_injected_log_is_unlisted(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail = setup(kit, signer)
    injected, _ = trail.log(kit.T0 + 2 * H - timedelta(minutes=25))
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    v = kit.verdicts(report)
    assert v[injected] == ("unlisted", "not-in-any-digest")  # CLI: never looks (section 7.2)
    assert report.exit_status() == EXIT_FAILED


def test_chain_link_forged(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail = setup(kit, signer)
    target = trail.keys[3]
    # a validly signed digest whose previous-digest signature and hash are not the real ones
    bucket.edit_digest(
        target,
        lambda d: d.update(previousDigestSignature="ab" * 256, previousDigestHashValue="0" * 64),
        signer=signer,
    )
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    v = kit.verdicts(report)
    assert v[target] == ("INVALID", "broken-chain-link")  # CLI: valid (section 7.5)
    detail = next(r.detail for r in report.files if r.key == target)
    assert "previousDigestSignature" in detail and "previousDigestHashValue" in detail


def test_weak_signature_algorithms(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket = kit.Bucket()
    trail = kit.Trail(bucket, signer)
    trail.run(2)
    sha1 = trail.hour(kit.T0 + 2 * H, algorithm=hashes.SHA1())
    labelled = trail.hour(kit.T0 + 3 * H)
    bucket.objects[labelled].metadata["signature-algorithm"] = "MD5withDSA"
    report = run(kit, bucket, tmp_path, [signer.public_key()], hours=4)
    v = kit.verdicts(report)
    assert v[sha1] == ("INVALID", "weak-signature-algorithm")  # CLI: valid (section 7.6)
    assert v[labelled] == ("INVALID", "weak-signature-algorithm")  # CLI: valid
    assert "SHA1" in next(r.detail for r in report.files if r.key == sha1)


def test_digest_with_appended_member(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail = setup(kit, signer)
    target = trail.keys[2]
    logs = [e["s3Object"] for e in bucket.digest_doc(target)["logFiles"]]
    bucket.objects[target].data += kit.gz(b'{"logFiles":[]}')
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    v = kit.verdicts(report)
    assert v[target] == ("INVALID", "extra-data")  # CLI: valid (section 7.4)
    # its signature still verified, so its log files are checked, and valid
    assert all(v[k] == ("valid", None) for k in logs)


_DAY_FOLDER = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/10/"
#: names CloudTrail never writes in that folder: each must be reported, not skipped
NOT_LOG_NAMES = [
    "111122223333_CloudTrail_us-east-1_20240310T0135Z_abc-DEF.json.gz",  # '-' in the unique part
    "999988887777_CloudTrail_us-east-1_20240310T0135Z_abcDEF123.json.gz",  # another account
    "evil.json.gz",
]


def fake_events(kit: Any) -> Any:
    doc = b'{"Records":[{"eventTime":"2024-03-10T01:30:00Z","eventName":"ConsoleLogin"}]}'
    return kit.Obj(kit.gz(doc))


@pytest.mark.parametrize("name", NOT_LOG_NAMES)
def test_object_with_a_non_log_name_is_unlisted(
    kit: Any, signer: Any, tmp_path: Path, name: str
) -> None:
    bucket, _ = setup(kit, signer)
    injected = _DAY_FOLDER + name
    bucket.objects[injected] = fake_events(kit)
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    v = kit.verdicts(report)
    assert v[injected] == ("unlisted", "not-a-log-file-name")  # was skipped: exit 0
    res = next(r for r in report.files if r.key == injected)
    assert res.time is None and res.kind == "log"
    assert res.message() == "unlisted: not a CloudTrail log file name"
    assert res.as_json()["time"] is None
    assert report.tally()["log"]["unlisted"] == 1
    assert report.exit_status() == EXIT_FAILED


def test_non_log_names_outside_the_window_or_beside_digests_are_not_reported(
    kit: Any, signer: Any, tmp_path: Path
) -> None:
    bucket, _trail = setup(kit, signer)
    # a date folder before the window (inside the listing margin): another run's business
    early = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/08/evil.json.gz"
    bucket.objects[early] = fake_events(kit)
    root = bucket.to_dir(tmp_path / "copy")
    # a log's .meta.json sidecar in a local copy is metadata, not a log
    log = bucket.logs()[0]
    (root / (log + ".meta.json")).write_text("{}")
    report = kit.verify_dir(
        root, [signer.public_key()], now=now_after(kit, 6), start=kit.T0 - timedelta(minutes=30)
    )
    v = kit.verdicts(report)
    assert early not in v and log + ".meta.json" not in v
    assert set(v.values()) == {("valid", None)}
    assert report.exit_status() == EXIT_OK
    # without a start, the window begins at the oldest digest: 03/08 is still outside it
    report = kit.verify_dir(root, [signer.public_key()], now=now_after(kit, 6))
    assert early not in kit.verdicts(report)
    assert report.exit_status() == EXIT_OK


def test_a_non_log_name_first_in_a_folder_without_digests_keeps_the_span(
    kit: Any, signer: Any, tmp_path: Path
) -> None:
    bucket, _trail = setup(kit, signer)
    for key in [k for k in bucket.objects if "CloudTrail-Digest/" in k]:
        del bucket.objects[key]
    first = _DAY_FOLDER + "000000000000_first.json.gz"  # sorts before every real log
    bucket.objects[first] = fake_events(kit)
    report = run(kit, bucket, tmp_path, [signer.public_key()])
    assert kit.verdicts(report)[first] == ("unlisted", "not-a-log-file-name")
    assert [s.kind for s in report.spans] == [SpanKind.DIGESTS_MISSING]
    assert report.exit_status() == EXIT_FAILED
