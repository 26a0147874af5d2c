"""``trailguard verify`` end to end: options, output, exit statuses, --record, hostile input."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trailguard.cli import app
from trailguard.findings.store import FindingFilter, Store

H = timedelta(hours=1)
runner = CliRunner()


def make_copy(kit: Any, signer: Any, tmp_path: Path, hours: int = 5) -> tuple[Any, Any, Path, Path]:
    bucket = kit.Bucket()
    trail = kit.Trail(bucket, signer)
    trail.run(hours)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"PublicKeyList": [signer.key_json()]}))
    return bucket, trail, tmp_path / "copy", keys


def now_text(kit: Any, hours: int = 5) -> str:
    return (kit.T0 + (hours - 1) * H + timedelta(hours=2, minutes=30)).isoformat()


def verify(*args: str) -> Any:
    return runner.invoke(app, ["verify", *args])


def test_clean_copy_exits_0_and_prints_the_cli_summary(
    kit: Any, signer: Any, tmp_path: Path
) -> None:
    bucket, _, root, keys = make_copy(kit, signer, tmp_path)
    bucket.to_dir(root)
    result = verify(str(root), "--public-keys", str(keys), "--now", now_text(kit), "--verbose")
    assert result.exit_code == 0, result.output
    assert "5/5 digest files valid" in result.output
    assert "10/10 log files valid" in result.output
    assert "\tvalid" in result.output


def test_tampered_copy_exits_3_with_cli_messages(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, _trail, root, keys = make_copy(kit, signer, tmp_path)
    victim = bucket.logs()[2]
    bucket.objects[victim].data = kit.gz(b'{"Records":[]}')
    bucket.to_dir(root)
    result = verify(str(root), "--public-keys", str(keys), "--now", now_text(kit))
    assert result.exit_code == 3
    assert f"Log file\t{root / victim}\tINVALID: hash value doesn't match" in result.output
    assert "9/10 log files valid, 1/10 log files INVALID" in result.output


def test_json_lines_one_object_per_file(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail, root, keys = make_copy(kit, signer, tmp_path)
    del bucket.objects[trail.keys[-1]]
    bucket.to_dir(root)
    result = verify(
        str(root), "--public-keys", str(keys), "--now", now_text(kit), "--format", "json"
    )
    assert result.exit_code == 3
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["type"] for r in rows].count("digest") == 4
    spans = [r for r in rows if r["type"] == "span"]
    assert [s["kind"] for s in spans] == ["digests-missing"]
    assert rows[-1]["type"] == "summary" and rows[-1]["exitStatus"] == 3
    unverified = [r for r in rows if r.get("status") == "unverified"]
    assert len(unverified) == 2


def test_time_offsets_are_converted(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail, root, keys = make_copy(kit, signer, tmp_path, hours=8)
    bucket.to_dir(root)
    # 04:30+02:00 is 02:30Z and 01:00-03:00 is 04:00Z: the digests stamped up to end + 1 h,
    # back to the one straddling the start
    result = verify(
        str(root),
        "--public-keys",
        str(keys),
        "--now",
        now_text(kit, 8),
        "--format",
        "json",
        "--start-time",
        "2024-03-10T04:30:00+02:00",
        "--end-time",
        "2024-03-10T01:00:00-03:00",
    )
    rows = [json.loads(line) for line in result.output.splitlines()]
    summary = rows[-1]
    assert summary["requestedStart"] == "2024-03-10T02:30:00Z"
    assert summary["requestedEnd"] == "2024-03-10T04:00:00Z"
    digests = [r["key"] for r in rows if r["type"] == "digest"]
    assert digests == [trail.keys[4], trail.keys[3]]
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--start-time", "yesterday"], 2),
        (["--start-time", "2024-03-10T05:00:00Z", "--end-time", "2024-03-10T01:00:00Z"], 2),
        (["--trail-arn", "not-an-arn"], 2),
        (["--format", "xml"], 2),
    ],
)
def test_usage_errors(kit: Any, signer: Any, tmp_path: Path, args: list[str], code: int) -> None:
    bucket, _, root, keys = make_copy(kit, signer, tmp_path)
    bucket.to_dir(root)
    assert verify(str(root), "--public-keys", str(keys), *args).exit_code == code


def test_bad_key_file_is_a_usage_error(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, _, root, keys = make_copy(kit, signer, tmp_path)
    bucket.to_dir(root)
    keys.write_text('{"PublicKeyList": [{"Value": "***", "Fingerprint": "x"}]}')
    result = verify(str(root), "--public-keys", str(keys))
    assert result.exit_code == 2
    assert "not base64" in result.output


def test_record_stores_high_findings(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail, root, keys = make_copy(kit, signer, tmp_path)
    del bucket.objects[trail.keys[2]]
    bucket.objects[bucket.logs()[0]].data = b""
    bucket.to_dir(root)
    db = tmp_path / "f.db"
    args = [
        str(root),
        "--public-keys",
        str(keys),
        "--now",
        now_text(kit),
        "--record",
        "--db",
        str(db),
    ]
    assert verify(*args).exit_code == 3
    assert verify(*args).exit_code == 3  # again: the same findings, not new ones
    store = Store.open(db)
    try:
        found = store.list_findings(FindingFilter())
    finally:
        store.close()
    types = {f["type"]: f for f in found}
    assert set(types) == {
        "Stealth:IAMUser/CloudTrailDigestMissing",
        "Stealth:IAMUser/CloudTrailLogTampered",
        "Stealth:IAMUser/CloudTrailLogUnverified",
    }
    assert all(f["severityLabel"] == "High" for f in found)
    assert types["Stealth:IAMUser/CloudTrailLogUnverified"]["service"]["count"] == 2
    assert all(f["detection"]["id"] == "cloudtrail_integrity" for f in found)


def test_hostile_input_is_reported_per_file(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, trail, root, keys = make_copy(kit, signer, tmp_path, hours=7)
    # a validly signed digest that names files outside the copy
    escape = trail.hour(
        kit.T0 + 7 * H,
        log_files=[("../../../etc/passwd", b"x"), ("AWSLogs/\x00bad", b"y")],
    )
    notjson, truncated, deep, badside = trail.keys[1], trail.keys[2], trail.keys[3], trail.keys[4]
    bucket.objects[notjson].data = kit.gz(b"\xff\xfe not json")
    bucket.objects[truncated].data = bucket.objects[truncated].data[:30]
    bucket.objects[deep].data = kit.gz(b"[" * 100000)
    bucket.to_dir(root)
    side = root / (badside + ".meta.json")
    side.write_text("[1, 2, 3]")
    result = verify(
        str(root), "--public-keys", str(keys), "--now", now_text(kit, 8), "--format", "json"
    )
    assert result.exit_code == 3
    rows = {r.get("key"): r for r in map(json.loads, result.output.splitlines())}
    for key in (notjson, truncated, deep, badside):
        assert (rows[key]["status"], rows[key]["reason"]) == ("INVALID", "invalid-format"), key
    assert rows[escape]["status"] == "valid"
    assert (rows["../../../etc/passwd"]["status"], rows["../../../etc/passwd"]["reason"]) == (
        "INVALID",
        "not-found",
    )
    assert rows["AWSLogs/\x00bad"]["reason"] == "not-found"


def test_mirror_needs_s3_and_a_folder(tmp_path: Path) -> None:
    assert verify("--mirror", str(tmp_path), str(tmp_path / "out")).exit_code == 2


def test_help_lists_the_options() -> None:
    result = runner.invoke(app, ["verify", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--public-keys", "--start-time", "--mirror", "--record", "--delivery-delay"):
        assert option in result.output


def test_a_non_log_name_is_reported_in_text_and_json(kit: Any, signer: Any, tmp_path: Path) -> None:
    bucket, _trail, root, keys = make_copy(kit, signer, tmp_path)
    injected = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/10/evil.json.gz"
    bucket.objects[injected] = kit.Obj(kit.gz(b'{"Records":[]}'))
    bucket.to_dir(root)
    result = verify(str(root), "--public-keys", str(keys), "--now", now_text(kit))
    assert result.exit_code == 3, result.output
    assert f"Log file\t{root / injected}\tunlisted: not a CloudTrail log file name" in result.output
    assert "10/11 log files valid, 1/11 log files unlisted" in result.output
    result = verify(
        str(root), "--public-keys", str(keys), "--now", now_text(kit), "--format", "json"
    )
    assert result.exit_code == 3
    rows = [json.loads(line) for line in result.output.splitlines()]
    (row,) = [r for r in rows if r.get("key") == injected]
    assert (row["type"], row["status"], row["reason"], row["time"]) == (
        "log",
        "unlisted",
        "not-a-log-file-name",
        None,
    )
