"""`trailguard scan s3://...` end to end, against a moto server on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from trailguard.cli import EXIT_FINDINGS, EXIT_OK, EXIT_UNREADABLE, app
from trailguard.detect.registry import example_files
from trailguard.findings.store import FindingFilter, Store

runner = CliRunner()


def _upload(s3_client: Any, bucket: str) -> None:
    s3_client.create_bucket(Bucket=bucket)
    tp = example_files("cloudtrail", "root_credential_usage")[0][0]
    for i in range(3):
        key = (
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02/"
            f"111122223333_CloudTrail_us-east-1_20261102T10{i}5Z_abc{i}.json.gz"
        )
        s3_client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(tp.read_bytes()))
    s3_client.put_object(Bucket=bucket, Key="other/ignored.json", Body=b"{}")


def test_scan_s3_prefix(s3_client: Any, moto_server: str, tmp_path: Path) -> None:
    _upload(s3_client, "trail-bucket")
    db = tmp_path / "s3.db"
    args = [
        "scan",
        "s3://trail-bucket/AWSLogs/",
        "--endpoint-url",
        moto_server,
        "--db",
        str(db),
        "--format",
        "json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_OK, result.output
    summary = json.loads(result.stdout)
    assert summary["objects"] == 3
    assert summary["events"]["cloudtrail"] == 6
    store = Store.open(db)
    found = store.list_findings(FindingFilter())
    assert [f["type"] for f in found] == ["Policy:IAMUser/RootCredentialUsage"]
    # the same events in three objects are one set of occurrences
    assert found[0]["service"]["count"] == 2
    latest = found[0]["service"]["evidence"]["latestOccurrence"]["object"]
    assert latest.startswith("s3://trail-bucket/AWSLogs/111122223333/CloudTrail/")
    again = runner.invoke(app, [*args[:-2], "--fail-on", "low"])
    assert again.exit_code == EXIT_FINDINGS, again.output


def test_scan_s3_bad_object_and_missing_bucket(
    s3_client: Any, moto_server: str, tmp_path: Path
) -> None:
    s3_client.create_bucket(Bucket="bucket-two")
    s3_client.put_object(Bucket="bucket-two", Key="logs/bad.json.gz", Body=b"\x1f\x8b\x08\x00junk")
    db = str(tmp_path / "x.db")
    result = runner.invoke(
        app, ["scan", "s3://bucket-two/logs/", "--endpoint-url", moto_server, "--db", db]
    )
    assert result.exit_code == EXIT_UNREADABLE, result.output
    assert "s3://bucket-two/logs/bad.json.gz" in result.output
    missing = runner.invoke(
        app, ["scan", "s3://no-such-bucket/", "--endpoint-url", moto_server, "--db", db]
    )
    assert missing.exit_code == EXIT_UNREADABLE
    assert "no-such-bucket" in missing.output
