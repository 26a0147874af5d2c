"""`trailguard scan s3://...` end to end, against a moto server on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trailguard.cli import EXIT_FINDINGS, EXIT_OK, EXIT_UNREADABLE, app
from trailguard.detect.registry import example_files
from trailguard.findings.store import FindingFilter, Store
from trailguard.sources.base import SourceObject

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


def test_s3_objects_are_read_by_reader_processes(
    s3_client: Any, moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 objects go to the reader processes (each opens them with a client of its own)
    and give what one process gives: findings, counts and the bad object's reason."""
    import trailguard.formats.parallel
    from trailguard.detect.registry import builtin_detections
    from trailguard.scan import Scanner
    from trailguard.sources.s3 import S3Source

    _upload(s3_client, "pooled")
    s3_client.put_object(Bucket="pooled", Key="AWSLogs/zz-bad.json.gz", Body=b"\x1f\x8b\x08junk")
    submitted: list[str] = []

    class CountingPool(trailguard.formats.parallel.ReaderPool):
        def submit(self, obj: SourceObject) -> None:
            submitted.append(obj.name)
            super().submit(obj)

    monkeypatch.setattr(trailguard.formats.parallel, "ReaderPool", CountingPool)
    results = []
    for workers in (0, 2):
        store = Store.open(tmp_path / f"w{workers}.db")
        try:
            source = S3Source.from_url("s3://pooled/AWSLogs/", endpoint_url=moto_server)
            summary = Scanner(store, builtin_detections(), workers=workers).scan([source])
            found = [
                (f["type"], f["service"]["count"]) for f in store.list_findings(FindingFilter())
            ]
            bad = [(q.object, q.reason) for q in store.quarantined()]
            results.append((summary.objects, dict(summary.events), found, bad))
        finally:
            store.close()
    assert results[0] == results[1]
    assert results[1][2] == [("Policy:IAMUser/RootCredentialUsage", 2)]
    assert results[1][3] and results[1][3][0][0] == "s3://pooled/AWSLogs/zz-bad.json.gz"
    assert len(submitted) == 4 and all(n.startswith("s3://pooled/") for n in submitted)


def test_reader_processes_sign_with_the_credentials_resolved_once(
    s3_client: Any, moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A profile whose credentials come from a ``credential_process`` (or a role assumed
    with MFA) is resolved by the process that lists the objects, once: the reader
    processes are handed the keys rather than running the process (or prompting) again."""
    import sys

    from trailguard.detect.registry import builtin_detections
    from trailguard.scan import Scanner
    from trailguard.sources.s3 import S3Source

    _upload(s3_client, "profiled")
    runs = tmp_path / "runs.txt"
    helper = tmp_path / "creds.py"
    helper.write_text(
        "import json\n"
        f"open({str(runs)!r}, 'a').write('run\\n')\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': 'testing', "
        "'SecretAccessKey': 'testing'}))\n"
    )
    config = tmp_path / "config"
    config.write_text(
        f"[profile counted]\nregion = us-east-1\ncredential_process = {sys.executable} {helper}\n"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "counted")
    store = Store.open(tmp_path / "p.db")
    try:
        source = S3Source.from_url("s3://profiled/AWSLogs/", endpoint_url=moto_server)
        summary = Scanner(store, builtin_detections(), workers=2).scan([source])
        assert summary.objects == 3 and not summary.failed_objects, summary.failed_objects
        assert summary.events["cloudtrail"] == 6
    finally:
        store.close()
    assert runs.read_text().count("run") == 1
