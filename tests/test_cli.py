"""The ``trailguard`` command end to end, on real files and real SQLite stores.

Exit codes (cli.py, README): 0 clean, 1 trailguard failed, 2 usage or configuration
error, 3 findings at or above ``--fail-on``, 4 unreadable input; 3 wins over 4.
"""

from __future__ import annotations

import csv
import errno
import gzip
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

import trailguard.detections.cloudtrail
from trailguard.cli import app
from trailguard.detect.hit import Hit
from trailguard.findings.model import finding_id, to_ms
from trailguard.findings.store import FindingFilter, Store
from trailguard.formats.base import Reject
from trailguard.outputs.export import CSV_COLUMNS

EXAMPLES = Path(trailguard.detections.cloudtrail.__file__).parent / "examples"
ROOT = "Policy:IAMUser/RootCredentialUsage"
LOGGING = "Stealth:IAMUser/CloudTrailLoggingDisabled"
SCRIPT = Path(sys.executable).parent / "trailguard"

needs_vpcflow = pytest.mark.skipif(
    importlib.util.find_spec("trailguard.formats.vpcflow") is None,
    reason="`trailguard scan` imports trailguard.formats.vpcflow, which is not written yet",
)
needs_sigma = pytest.mark.skipif(
    importlib.util.find_spec("trailguard.detect.sigma") is None,
    reason="Sigma support (trailguard.detect.sigma) is not written yet",
)

SIGMA_RULE = """\
title: Trail stopped (test rule)
id: 0b1e4c5a-1d2e-4f3a-9b8c-7d6e5f4a3b2c
status: experimental
description: StopLogging was called on a trail.
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventSource: cloudtrail.amazonaws.com
    eventName: StopLogging
  condition: selection
level: critical
"""


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No TRAILGUARD_* variables, no user config; wide, colourless output."""
    for name in list(os.environ):
        if name.startswith("TRAILGUARD_"):
            monkeypatch.delenv(name)
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("COLUMNS", "1000")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "db" / "trailguard.db"


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*/*.json"))


def event_count() -> int:
    return sum(len(json.loads(p.read_text())["Records"]) for p in example_files())


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """The built-in CloudTrail examples (positives and negatives) in one folder."""
    folder = tmp_path / "logs"
    folder.mkdir()
    for p in example_files():
        shutil.copy(p, folder / f"{p.parent.name}__{p.name}")
    return folder


@pytest.fixture
def bad_logs(logs: Path) -> Path:
    """The examples plus a truncated gzip, an invalid JSON file and an empty file."""
    whole = gzip.compress((EXAMPLES / "root_credential_usage" / "fp_not_root.json").read_bytes())
    (logs / "zz_truncated.json.gz").write_bytes(whole[: len(whole) // 2])
    (logs / "zz_invalid.json").write_text('{"Records": [{"eventVersion": "1.09", "eventTi')
    (logs / "zz_empty.json").write_bytes(b"")
    return logs


def run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args))


def explain(result: Result) -> str:
    return f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}\n" + (
        f"exception: {result.exception!r}" if result.exception else ""
    )


def listed(runner: CliRunner, db: Path, *args: str) -> list[dict[str, Any]]:
    result = run(runner, "findings", "list", "--db", str(db), "--format", "json", *args)
    assert result.exit_code == 0, explain(result)
    return json.loads(result.stdout)["Findings"]


# --- findings seeded straight into a store ---------------------------------------------

T0 = datetime(2026, 11, 2, 10, 15, tzinfo=UTC)


def make_hit(
    event_key: str,
    finding_type: str,
    severity: float,
    *,
    at: datetime = T0,
    account: str = "111122223333",
    region: str = "us-east-1",
    resource_key: str = "arn:aws:iam::111122223333:root",
    title: str = "A title",
    obj: str = "/logs/a.json",
) -> Hit:
    return Hit(
        detection_id="test",
        finding_type=finding_type,
        severity=severity,
        title=title,
        description="A description.",
        account_id=account,
        region=region,
        resource_type="AccessKey",
        resource_key=resource_key,
        actor_key="",
        resource={"resourceType": "AccessKey", "accessKeyDetails": {"userName": resource_key}},
        action={"actionType": "AWS_API_CALL", "awsApiCallAction": {"api": "X"}},
        first_seen=at,
        last_seen=at,
        event_key=event_key,
        object=obj,
        position="record 0",
        feature="CloudTrail",
    )


SEEDED = {
    "low": make_hit("e1", ROOT, 2.0, title='=SUM(1,2) root, "quoted"\nline'),
    "medium": make_hit(
        "e2",
        "Recon:EC2/Portscan",
        5.0,
        at=T0 + timedelta(hours=1),
        account="444455556666",
        region="eu-west-1",
        resource_key="i-0abc",
    ),
    "high": make_hit(
        "e3",
        "UnauthorizedAccess:EC2/MetadataDNSRebind",
        8.0,
        at=T0 + timedelta(hours=2),
        region="eu-west-1",
        resource_key="i-0def",
    ),
    "critical": make_hit(
        "e4", "Impact:EC2/Test", 9.5, at=T0 + timedelta(hours=3), resource_key="i-0fff"
    ),
}


def fid(h: Hit) -> str:
    return finding_id(h.finding_type, h.account_id, h.region, h.resource_key, h.actor_key)


@pytest.fixture
def seeded(db: Path) -> Path:
    """A store with one finding of each severity, and one quarantined record."""
    store = Store.open(db)
    try:
        for h in SEEDED.values():
            store.commit_object(
                name=h.object + h.event_key,
                version="1",
                kind="cloudtrail",
                rows=1,
                failed=False,
                rejected=0,
                rejects=[],
                hits=[h],
                deltas=[],
                now_ms=to_ms(T0 + timedelta(days=1)),
            )
    finally:
        store.close()
    return db


# --- scan -----------------------------------------------------------------------------


@needs_vpcflow
def test_scan_reports_events_and_findings(runner: CliRunner, logs: Path, db: Path) -> None:
    result = run(runner, "scan", str(logs), "--db", str(db))
    assert result.exit_code == 0, explain(result)
    found = listed(runner, db)
    assert {f["type"] for f in found} == {ROOT, LOGGING}
    text = result.stdout
    assert "Scan summary" in text
    assert "events: cloudtrail" in text
    assert f"{event_count():,}" in text
    assert "findings Low" in text
    assert f"{len(found)} new, 0 updated" in text
    assert "\x1b[" not in text


@needs_vpcflow
def test_scan_summary_as_json(runner: CliRunner, logs: Path, db: Path) -> None:
    result = run(runner, "scan", str(logs), "--db", str(db), "--format", "json")
    assert result.exit_code == 0, explain(result)
    summary = json.loads(result.stdout)
    assert summary["objects"] == len(example_files())
    assert summary["skipped"] == 0
    assert summary["events"] == {"cloudtrail": event_count()}
    assert summary["rejected"] == 0
    assert summary["failedObjects"] == []
    assert summary["findingsNew"] == {"Low": len(listed(runner, db))}


@needs_vpcflow
@pytest.mark.parametrize(
    ("fail_on", "code"),
    [("low", 3), ("LOW", 3), ("medium", 0), ("high", 0), ("critical", 0)],
)
def test_scan_fail_on(runner: CliRunner, logs: Path, db: Path, fail_on: str, code: int) -> None:
    # every built-in CloudTrail finding of the examples is Low (severity 2)
    result = run(runner, "scan", str(logs), "--db", str(db), "--fail-on", fail_on)
    assert result.exit_code == code, explain(result)


@needs_vpcflow
def test_scan_fail_on_takes_only_severities(runner: CliRunner, logs: Path, db: Path) -> None:
    result = run(runner, "scan", str(logs), "--db", str(db), "--fail-on", "severe")
    assert result.exit_code == 2, explain(result)
    assert not db.exists() or listed(runner, db) == []


def test_scan_refuses_an_engine_memory_that_is_not_a_size(
    runner: CliRunner, logs: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAILGUARD_ENGINE_MEMORY", "lots")
    result = run(runner, "scan", str(logs), "--db", str(db))
    assert result.exit_code == 2, explain(result)
    assert "engine_memory must be a size" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


@needs_vpcflow
def test_scan_fail_on_ignores_archived_findings(runner: CliRunner, logs: Path, db: Path) -> None:
    assert run(runner, "scan", str(logs), "--db", str(db)).exit_code == 0
    ids = [f["id"] for f in listed(runner, db)]
    assert run(runner, "findings", "archive", *ids, "--db", str(db)).exit_code == 0
    result = run(runner, "scan", str(logs), "--db", str(db), "--fail-on", "low")
    assert result.exit_code == 0, explain(result)


@needs_vpcflow
def test_scan_only_the_scanned_objects_count_for_fail_on(
    runner: CliRunner, logs: Path, db: Path, tmp_path: Path
) -> None:
    assert run(runner, "scan", str(logs), "--db", str(db)).exit_code == 0
    clean = tmp_path / "clean"
    clean.mkdir()
    shutil.copy(EXAMPLES / "root_credential_usage" / "fp_not_root.json", clean / "a.json")
    result = run(runner, "scan", str(clean), "--db", str(db), "--fail-on", "low")
    assert result.exit_code == 0, explain(result)


@needs_vpcflow
def test_scan_with_unreadable_input(runner: CliRunner, bad_logs: Path, db: Path) -> None:
    result = run(runner, "scan", str(bad_logs), "--db", str(db))
    assert result.exit_code == 4, explain(result)
    text = result.stdout
    assert "records rejected" in text
    for name in ("zz_truncated.json.gz", "zz_invalid.json", "zz_empty.json"):
        assert f"unreadable {bad_logs.resolve() / name}" in text, name
    assert "empty object" in text
    # the good files were still read, and their findings stored
    assert {f["type"] for f in listed(runner, db)} == {ROOT, LOGGING}
    assert f"{event_count():,}" in text


@needs_vpcflow
def test_scan_with_unreadable_input_as_json(runner: CliRunner, bad_logs: Path, db: Path) -> None:
    result = run(runner, "scan", str(bad_logs), "--db", str(db), "--format", "json")
    assert result.exit_code == 4, explain(result)
    summary = json.loads(result.stdout)
    assert summary["rejected"] >= 3
    assert summary["objects"] == len(example_files()) + 3
    assert summary["events"]["cloudtrail"] >= event_count()
    failed = {Path(r["object"]).name: r for r in summary["failedObjects"]}
    assert failed.keys() == {"zz_truncated.json.gz", "zz_invalid.json", "zz_empty.json"}
    assert failed["zz_empty.json"]["reason"] == "empty object"
    assert "gzip" in failed["zz_truncated.json.gz"]["reason"]
    assert "JSON" in failed["zz_invalid.json"]["reason"]
    assert sum(summary["rejectReasons"].values()) == summary["rejected"]


@needs_vpcflow
def test_findings_beat_unreadable_input(
    runner: CliRunner, bad_logs: Path, db: Path, tmp_path: Path
) -> None:
    result = run(runner, "scan", str(bad_logs), "--db", str(db), "--fail-on", "low")
    assert result.exit_code == 3, explain(result)
    other = str(tmp_path / "other.db")
    result = run(runner, "scan", str(bad_logs), "--db", other, "--fail-on", "critical")
    assert result.exit_code == 4, explain(result)


@needs_vpcflow
def test_quarantine_lists_the_rejected_objects(runner: CliRunner, bad_logs: Path, db: Path) -> None:
    assert run(runner, "scan", str(bad_logs), "--db", str(db)).exit_code == 4
    result = run(runner, "quarantine", "list", "--db", str(db))
    assert result.exit_code == 0, explain(result)
    for name in ("zz_truncated.json.gz", "zz_invalid.json", "zz_empty.json"):
        assert name in result.stdout, name
    assert "empty object" in result.stdout
    for p in example_files():
        assert f"{p.parent.name}__{p.name}" not in result.stdout


@needs_vpcflow
def test_scanning_again_skips_objects(runner: CliRunner, logs: Path, db: Path) -> None:
    first = run(runner, "scan", str(logs), "--db", str(db), "--format", "json")
    assert first.exit_code == 0, explain(first)
    before = listed(runner, db)
    again = run(runner, "scan", str(logs), "--db", str(db), "--format", "json")
    assert again.exit_code == 0, explain(again)
    summary = json.loads(again.stdout)
    assert summary["objects"] == 0
    assert summary["skipped"] == len(example_files())
    assert summary["findingsNew"] == summary["findingsUpdated"] == {}
    text = run(runner, "scan", str(logs), "--db", str(db))
    assert "objects already scanned (skipped)" in text.stdout
    # the findings of the skipped objects still exist, unchanged, and still count
    assert listed(runner, db) == before
    result = run(runner, "scan", str(logs), "--db", str(db), "--fail-on", "low")
    assert result.exit_code == 3, explain(result)


@needs_vpcflow
def test_scan_asks_the_store_for_its_committed_objects_once(
    runner: CliRunner, logs: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reading and the scanner share one map (on a large store it is ~170 MB and
    ~2 s per 500k objects to build)."""
    from trailguard.findings.store import Store

    calls: list[int] = []
    real = Store.checkpoint_versions

    def counting(self: Store) -> dict[str, tuple[str, int]]:
        calls.append(1)
        return real(self)

    monkeypatch.setattr(Store, "checkpoint_versions", counting)
    for _ in range(2):  # a first scan, and one that skips everything
        calls.clear()
        result = run(runner, "scan", str(logs), "--db", str(db))
        assert result.exit_code == 0, explain(result)
        assert calls == [1]


@needs_vpcflow
def test_a_changed_object_is_read_again(runner: CliRunner, logs: Path, db: Path) -> None:
    assert run(runner, "scan", str(logs), "--db", str(db)).exit_code == 0
    target = logs / "root_credential_usage__tp_root_api_calls.json"
    target.write_text(target.read_text() + "\n")
    result = run(runner, "scan", str(logs), "--db", str(db), "--format", "json")
    summary = json.loads(result.stdout)
    assert summary["objects"] == 1
    assert summary["skipped"] == len(example_files()) - 1
    # same events: nothing is counted twice
    assert summary["findingsNew"] == {}
    root = [f for f in listed(runner, db) if f["type"] == ROOT]
    assert root[0]["service"]["count"] == 2


@needs_vpcflow
def test_scan_of_a_missing_path_is_unreadable(runner: CliRunner, db: Path, tmp_path: Path) -> None:
    result = run(runner, "scan", str(tmp_path / "nothing-here"), "--db", str(db))
    assert result.exit_code == 4, explain(result)
    assert "nothing-here" in result.stdout


@needs_vpcflow
def test_scan_uses_trailguard_db_from_the_environment(
    runner: CliRunner, logs: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAILGUARD_DB", str(db))
    assert run(runner, "scan", str(logs)).exit_code == 0
    assert db.is_file()
    assert len(listed(runner, db)) == 2
    result = run(runner, "findings", "list", "--format", "json")
    assert result.exit_code == 0, explain(result)
    assert len(json.loads(result.stdout)["Findings"]) == 2


@needs_vpcflow
def test_scan_with_a_bad_config_file_is_a_configuration_error(
    runner: CliRunner, logs: Path, db: Path, isolated: Path
) -> None:
    (isolated / "trailguard.toml").write_text("batch_rows = 'many'\n")
    result = run(runner, "scan", str(logs), "--db", str(db))
    assert result.exit_code == 2, explain(result)
    assert "trailguard.toml" in result.stderr
    assert "batch_rows" in result.stderr


@needs_vpcflow
@needs_sigma
def test_scan_with_sigma_rules(runner: CliRunner, logs: Path, db: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "stop_logging.yml").write_text(SIGMA_RULE)
    result = run(
        runner, "scan", str(logs), "--db", str(db), "--rules", str(rules), "--fail-on", "critical"
    )
    assert result.exit_code == 3, explain(result)
    assert any(f["severityLabel"] == "Critical" for f in listed(runner, db))


# --- the console script in a pipe, and on a terminal ----------------------------------


def script_env(db: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS")
        and not k.startswith("TRAILGUARD_")
    }
    env["TERM"] = "xterm-256color"
    env["TRAILGUARD_DB"] = str(db)
    return env


@needs_vpcflow
def test_console_script_in_a_pipe_has_no_progress_bar_or_colours(logs: Path, db: Path) -> None:
    assert SCRIPT.is_file(), SCRIPT
    proc = subprocess.run(
        [str(SCRIPT), "scan", str(logs), "--fail-on", "low"],
        capture_output=True,
        env=script_env(db),
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr.decode()
    assert b"\x1b[" not in proc.stdout
    assert b"\x1b[" not in proc.stderr
    assert b"scanning" not in proc.stderr
    assert proc.stderr == b""
    assert b"events: cloudtrail" in proc.stdout
    listing = subprocess.run(
        [str(SCRIPT), "findings", "list"], capture_output=True, env=script_env(db), timeout=120
    )
    assert listing.returncode == 0, listing.stderr.decode()
    assert b"Low" in listing.stdout
    assert b"\x1b[" not in listing.stdout


@needs_vpcflow
def test_the_command_ends_with_its_code_its_output_and_its_clean_up(
    logs: Path, db: Path, tmp_path: Path
) -> None:
    """``trailguard`` skips the interpreter's teardown (``cli.main``): the command's exit
    code, all of its output and the exit handlers' clean-up (the engine's temporary
    folder) must still be there."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for n, command in enumerate(([str(SCRIPT)], [sys.executable, "-m", "trailguard"])):
        env = {**script_env(db.with_name(f"run{n}.db")), "TMPDIR": str(scratch)}
        proc = subprocess.run(
            [*command, "scan", str(logs), "--format", "json", "--fail-on", "low"],
            capture_output=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 3, proc.stderr.decode()
        summary = json.loads(proc.stdout)
        assert summary["events"]["cloudtrail"] == event_count()
        assert list(scratch.iterdir()) == []  # the engine's state folder is gone
        usage = subprocess.run(
            [*command, "scan", str(logs), "--fail-on", "severe"],
            capture_output=True,
            env=env,
            timeout=120,
        )
        assert usage.returncode == 2 and b"trailguard scan [OPTIONS]" in usage.stderr


def read_pty(args: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    import pty

    main_fd, child_fd = pty.openpty()
    try:
        proc = subprocess.Popen(args, stdin=child_fd, stdout=child_fd, stderr=child_fd, env=env)
    finally:
        os.close(child_fd)
    chunks = []
    try:
        while True:
            try:
                data = os.read(main_fd, 65536)
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(main_fd)
    return proc.wait(timeout=120), b"".join(chunks)


@needs_vpcflow
@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_console_script_on_a_terminal_is_styled(logs: Path, db: Path) -> None:
    # the control for the pipe test above: the same commands do style a terminal
    code, output = read_pty([str(SCRIPT), "scan", str(logs)], script_env(db))
    assert code == 0, output.decode(errors="replace")
    assert b"events: cloudtrail" in output
    code, output = read_pty([str(SCRIPT), "findings", "list"], script_env(db))
    assert code == 0, output.decode(errors="replace")
    assert b"\x1b[" in output


# --- findings list / show ----------------------------------------------------------------


def test_findings_list_table(runner: CliRunner, seeded: Path) -> None:
    result = run(runner, "findings", "list", "--db", str(seeded))
    assert result.exit_code == 0, explain(result)
    text = result.stdout
    assert "Findings (4)" in text
    for label, h in SEEDED.items():
        assert fid(h)[:12] in text
        assert label.capitalize() in text
        assert h.finding_type in text
    assert "\x1b[" not in text
    # most severe first
    positions = [text.index(fid(SEEDED[k])[:12]) for k in ("critical", "high", "medium", "low")]
    assert positions == sorted(positions)


def test_findings_list_json(runner: CliRunner, seeded: Path) -> None:
    found = listed(runner, seeded)
    assert [f["id"] for f in found] == [
        fid(SEEDED[k]) for k in ("critical", "high", "medium", "low")
    ]
    store = Store.open(seeded)
    try:
        assert found == store.list_findings(FindingFilter())
    finally:
        store.close()


def test_findings_list_of_an_empty_store(runner: CliRunner, db: Path) -> None:
    assert listed(runner, db) == []
    result = run(runner, "findings", "list", "--db", str(db))
    assert result.exit_code == 0, explain(result)
    assert "Findings (0)" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--severity", "high"], ["critical", "high"]),
        (["--severity", "MEDIUM"], ["critical", "high", "medium"]),
        (["--type", ROOT], ["low"]),
        (["--type", ROOT, "--type", "Recon:EC2/Portscan"], ["medium", "low"]),
        (["--type", "Nope:Nothing/Here"], []),
        (["--account", "444455556666"], ["medium"]),
        (["--region", "eu-west-1"], ["high", "medium"]),
        (["--resource", "0de"], ["high"]),
        (["--since", "2026-11-02T12:15:00Z"], ["critical", "high"]),
        (["--since", "2026-11-02T12:15:00"], ["critical", "high"]),
        (["--since", "2026-11-02T13:15:00+01:00"], ["critical", "high"]),
        (["--since", (datetime.now(UTC) + timedelta(days=1)).isoformat()], []),
        (["--limit", "1"], ["critical"]),
    ],
)
def test_findings_list_filters(
    runner: CliRunner, seeded: Path, args: list[str], expected: list[str]
) -> None:
    assert [f["id"] for f in listed(runner, seeded, *args)] == [fid(SEEDED[k]) for k in expected]


@pytest.mark.parametrize(
    "args",
    [
        ["--severity", "severe"],
        ["--since", "yesterday"],
        ["--archived", "maybe"],
        ["--limit", "0"],
    ],
)
def test_findings_list_bad_options_are_usage_errors(
    runner: CliRunner, seeded: Path, args: list[str]
) -> None:
    result = run(runner, "findings", "list", "--db", str(seeded), *args)
    assert result.exit_code == 2, explain(result)


def test_findings_show_by_prefix(runner: CliRunner, seeded: Path) -> None:
    target = fid(SEEDED["high"])
    result = run(runner, "findings", "show", target[:10], "--db", str(seeded))
    assert result.exit_code == 0, explain(result)
    doc = json.loads(result.stdout)
    assert doc["id"] == target
    assert doc["type"] == "UnauthorizedAccess:EC2/MetadataDNSRebind"
    assert doc["severityLabel"] == "High"
    assert doc["service"]["count"] == 1
    full = run(runner, "findings", "show", target, "--db", str(seeded))
    assert json.loads(full.stdout) == doc


def unused_prefix() -> str:
    taken = {fid(h)[0] for h in SEEDED.values()}
    return next(c for c in "0123456789abcdef" if c not in taken) * 8


def test_findings_show_unknown_id_is_a_usage_error(runner: CliRunner, seeded: Path) -> None:
    result = run(runner, "findings", "show", unused_prefix(), "--db", str(seeded))
    assert result.exit_code == 2, explain(result)
    assert unused_prefix() in result.stderr
    assert result.stdout == ""


def test_findings_show_ambiguous_prefix_is_a_usage_error(runner: CliRunner, seeded: Path) -> None:
    result = run(runner, "findings", "show", "", "--db", str(seeded))
    assert result.exit_code == 2, explain(result)
    assert "ambiguous" in result.stderr


# --- findings export ------------------------------------------------------------------


def test_export_json_to_stdout(runner: CliRunner, seeded: Path) -> None:
    result = run(runner, "findings", "export", "--format", "json", "--db", str(seeded))
    assert result.exit_code == 0, explain(result)
    doc = json.loads(result.stdout)
    assert [f["id"] for f in doc["Findings"]] == [f["id"] for f in listed(runner, seeded)]


def test_export_jsonl_to_stdout(runner: CliRunner, seeded: Path) -> None:
    result = run(runner, "findings", "export", "--format", "jsonl", "--db", str(seeded))
    assert result.exit_code == 0, explain(result)
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert [json.loads(line) for line in lines] == listed(runner, seeded)


def test_export_csv_to_stdout(runner: CliRunner, seeded: Path) -> None:
    result = run(runner, "findings", "export", "--format", "csv", "--db", str(seeded))
    assert result.exit_code == 0, explain(result)
    table = list(csv.reader(io.StringIO(result.stdout, newline="")))
    assert table[0] == list(CSV_COLUMNS)
    assert len(table) == 5
    low = dict(zip(CSV_COLUMNS, table[4], strict=True))
    assert low["id"] == fid(SEEDED["low"])
    # a title from the logs that looks like a formula is defused, and survives intact
    assert low["title"] == "'" + SEEDED["low"].title


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_export_to_a_file(runner: CliRunner, seeded: Path, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"out.{fmt}"
    result = run(
        runner,
        "findings",
        "export",
        "--format",
        fmt,
        "-o",
        str(target),
        "--db",
        str(seeded),
        "--severity",
        "high",
    )
    assert result.exit_code == 0, explain(result)
    assert result.stdout == ""
    assert f"wrote 2 findings to {target}" in " ".join(result.stderr.split())
    text = target.read_text(encoding="utf-8")
    expected = [fid(SEEDED["critical"]), fid(SEEDED["high"])]
    if fmt == "json":
        assert [f["id"] for f in json.loads(text)["Findings"]] == expected
    elif fmt == "jsonl":
        assert [json.loads(line)["id"] for line in text.splitlines()] == expected
    else:
        table = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
        assert [row[0] for row in table[1:]] == expected


def test_export_filters(runner: CliRunner, seeded: Path) -> None:
    result = run(
        runner,
        "findings",
        "export",
        "--format",
        "jsonl",
        "--db",
        str(seeded),
        "--type",
        ROOT,
    )
    assert result.exit_code == 0, explain(result)
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [fid(SEEDED["low"])]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    result = run(runner, "findings", "export", "--db", str(seeded), "--since", future)
    assert json.loads(result.stdout) == {"Findings": []}


def test_export_unknown_format_is_a_usage_error(runner: CliRunner, seeded: Path) -> None:
    result = run(runner, "findings", "export", "--format", "xml", "--db", str(seeded))
    assert result.exit_code == 2, explain(result)
    assert result.stdout == ""


# --- archive ------------------------------------------------------------------------------


def test_archive_hides_a_finding(runner: CliRunner, seeded: Path) -> None:
    target = fid(SEEDED["medium"])
    result = run(runner, "findings", "archive", target[:10], "--db", str(seeded))
    assert result.exit_code == 0, explain(result)
    assert "archived 1 findings" in result.stdout
    assert target not in [f["id"] for f in listed(runner, seeded)]
    assert len(listed(runner, seeded)) == 3
    every = listed(runner, seeded, "--archived", "all")
    assert target in [f["id"] for f in every]
    assert len(every) == 4
    archived = listed(runner, seeded, "--archived", "yes")
    assert [f["id"] for f in archived] == [target]
    assert archived[0]["service"]["archived"] is True
    table = run(runner, "findings", "list", "--db", str(seeded))
    assert target[:12] not in table.stdout
    assert "Findings (3)" in table.stdout

    result = run(runner, "findings", "unarchive", target, "--db", str(seeded))
    assert result.exit_code == 0, explain(result)
    assert "unarchived 1 findings" in result.stdout
    assert len(listed(runner, seeded)) == 4


def test_archive_several(runner: CliRunner, seeded: Path) -> None:
    ids = [fid(SEEDED["low"]), fid(SEEDED["high"])]
    result = run(runner, "findings", "archive", *ids, "--db", str(seeded))
    assert result.exit_code == 0, explain(result)
    assert "archived 2 findings" in result.stdout
    assert [f["id"] for f in listed(runner, seeded)] == [
        fid(SEEDED["critical"]),
        fid(SEEDED["medium"]),
    ]


def test_archive_unknown_id_changes_nothing(runner: CliRunner, seeded: Path) -> None:
    result = run(
        runner,
        "findings",
        "archive",
        fid(SEEDED["low"]),
        unused_prefix(),
        "--db",
        str(seeded),
    )
    assert result.exit_code == 2, explain(result)
    assert unused_prefix() in result.stderr
    # all or nothing: the known id was not archived either
    assert len(listed(runner, seeded)) == 4


# --- the store location -------------------------------------------------------------------


def test_db_from_the_environment(
    runner: CliRunner, seeded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAILGUARD_DB", str(seeded))
    result = run(runner, "findings", "list", "--format", "json")
    assert result.exit_code == 0, explain(result)
    assert len(json.loads(result.stdout)["Findings"]) == 4


def test_db_option_beats_the_environment(
    runner: CliRunner, seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAILGUARD_DB", str(tmp_path / "other.db"))
    result = run(runner, "findings", "list", "--format", "json", "--db", str(seeded))
    assert len(json.loads(result.stdout)["Findings"]) == 4


def test_db_from_the_config_file(runner: CliRunner, seeded: Path, isolated: Path) -> None:
    (isolated / "trailguard.toml").write_text(f"db = {json.dumps(str(seeded))}\n")
    result = run(runner, "findings", "list", "--format", "json")
    assert result.exit_code == 0, explain(result)
    assert len(json.loads(result.stdout)["Findings"]) == 4


def test_db_default_is_in_the_user_data_dir(runner: CliRunner, tmp_path: Path) -> None:
    result = run(runner, "findings", "list")
    assert result.exit_code == 0, explain(result)
    assert (tmp_path / "xdg-data" / "trailguard" / "trailguard.db").is_file()


def test_findings_list_with_a_bad_config_file_is_a_configuration_error(
    runner: CliRunner, isolated: Path
) -> None:
    (isolated / "trailguard.toml").write_text("db = 3\n")
    result = run(runner, "findings", "list")
    assert result.exit_code == 2, explain(result)
    assert "trailguard.toml" in result.stderr


def test_bad_config_file_is_reported_not_a_traceback(runner: CliRunner, isolated: Path) -> None:
    (isolated / "trailguard.toml").write_text("db = 3\n")
    result = run(runner, "findings", "list")
    assert result.exit_code in (1, 2), explain(result)
    assert result.exception is None or isinstance(result.exception, SystemExit), explain(result)
    assert "trailguard.toml" in result.stderr
    assert "db" in result.stderr


# --- quarantine -----------------------------------------------------------------------


def test_quarantine_list(runner: CliRunner, db: Path) -> None:
    store = Store.open(db)
    try:
        for name, position, reason in (
            ("/logs/b.json.gz", "byte 812", "truncated gzip stream"),
            ("/logs/a.json", "record 4", "eventTime: not a timestamp"),
        ):
            store.commit_object(
                name=name,
                version="1",
                kind="cloudtrail",
                rows=0,
                failed=True,
                rejected=1,
                rejects=[Reject(name, position, reason)],
                hits=[],
                deltas=[],
                now_ms=0,
            )
    finally:
        store.close()
    result = run(runner, "quarantine", "list", "--db", str(db))
    assert result.exit_code == 0, explain(result)
    text = result.stdout
    for token in ("/logs/b.json.gz", "byte 812", "truncated gzip stream", "record 4"):
        assert token in text, token
    assert text.index("/logs/a.json") < text.index("/logs/b.json.gz")
    limited = run(runner, "quarantine", "list", "--db", str(db), "--limit", "1")
    assert "/logs/a.json" in limited.stdout
    assert "/logs/b.json.gz" not in limited.stdout


# --- rules ----------------------------------------------------------------------------

BUILTIN = (
    ("cloudtrail_logging_disabled", LOGGING),
    ("root_credential_usage", ROOT),
    ("portscan", "Recon:EC2/Portscan"),
    ("metadata_dns_rebind", "UnauthorizedAccess:EC2/MetadataDNSRebind"),
)


def test_rules_list_shows_the_builtin_detections(runner: CliRunner) -> None:
    result = run(runner, "rules", "list")
    assert result.exit_code == 0, explain(result)
    for det_id, finding_type in BUILTIN:
        assert det_id in result.stdout
        assert finding_type in result.stdout


def rules_rows(text: str) -> dict[str, list[str]]:
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] in dict(BUILTIN):
            out[cells[0]] = cells
    return out


def test_rules_list_kind_column(runner: CliRunner) -> None:
    rows = rules_rows(run(runner, "rules", "list").stdout)
    assert set(rows) == set(dict(BUILTIN))
    assert {det: cells[4] for det, cells in rows.items()} == {
        "cloudtrail_logging_disabled": "Event",
        "root_credential_usage": "Event",
        "portscan": "Window",
        "metadata_dns_rebind": "Event",
    }


def test_rules_list_severity_and_log_type(runner: CliRunner) -> None:
    rows = rules_rows(run(runner, "rules", "list").stdout)
    assert {det: (cells[2], cells[3]) for det, cells in rows.items()} == {
        "cloudtrail_logging_disabled": ("Low", "cloudtrail"),
        "root_credential_usage": ("Low", "cloudtrail"),
        "portscan": ("Medium", "vpcflow"),
        "metadata_dns_rebind": ("High", "dns"),
    }


@needs_sigma
def test_rules_list_with_a_rules_folder(runner: CliRunner, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "stop_logging.yml").write_text(SIGMA_RULE)
    result = run(runner, "rules", "list", "--rules", str(rules))
    assert result.exit_code == 0, explain(result)
    assert "Trail stopped" in result.stdout or "0b1e4c5a" in result.stdout
    for det_id, _ in BUILTIN:
        assert det_id in result.stdout


@pytest.fixture
def rules_dir(tmp_path: Path) -> Iterator[Path]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "good.yml").write_text(SIGMA_RULE)
    yield rules


@needs_sigma
def test_rules_lint_clean_folder(runner: CliRunner, rules_dir: Path) -> None:
    result = run(runner, "rules", "lint", str(rules_dir))
    assert result.exit_code == 0, explain(result)
    assert "1 rules compiled, 0 problems" in result.stdout


@needs_sigma
def test_rules_lint_names_the_broken_file(runner: CliRunner, rules_dir: Path) -> None:
    broken = rules_dir / "broken.yml"
    broken.write_text("title: broken\nlogsource: [\n")
    result = run(runner, "rules", "lint", str(rules_dir))
    assert result.exit_code == 1, explain(result)
    assert str(broken) in result.stdout
    assert "1 rules compiled, 1 problems" in result.stdout


@needs_sigma
def test_rules_lint_collects_every_problem(runner: CliRunner, rules_dir: Path) -> None:
    (rules_dir / "a_broken.yml").write_text("detection: [\n")
    (rules_dir / "b_broken.py").write_text("def broken(:\n")
    (rules_dir / "c_empty.py").write_text("X = 1\n")
    result = run(runner, "rules", "lint", str(rules_dir))
    assert result.exit_code == 1, explain(result)
    for name in ("a_broken.yml", "b_broken.py", "c_empty.py"):
        assert name in result.stdout, name
    assert "3 problems" in result.stdout


@needs_sigma
def test_rules_lint_missing_folder(runner: CliRunner, tmp_path: Path) -> None:
    result = run(runner, "rules", "lint", str(tmp_path / "nope"))
    assert result.exit_code == 1, explain(result)
    assert "nope" in result.stdout


# --- usage ----------------------------------------------------------------------------


def test_no_arguments_shows_help(runner: CliRunner) -> None:
    result = run(runner)
    assert result.exit_code in (0, 2), explain(result)
    assert "scan" in result.output
    assert "findings" in result.output


def test_unknown_command_is_a_usage_error(runner: CliRunner) -> None:
    assert run(runner, "frobnicate").exit_code == 2


def test_findings_list_shows_markup_in_log_text_as_it_is(runner: CliRunner, db: Path) -> None:
    """A user name like "[/red]" comes from the logs: it must print, not crash rich."""
    at = datetime(2026, 11, 2, tzinfo=UTC)
    store = Store.open(db)
    store.record_hits(
        [
            Hit(
                detection_id="d",
                finding_type="Policy:IAMUser/Test.Custom",
                severity=5.0,
                title="t",
                description="d",
                account_id="111122223333",
                region="us-east-1",
                resource_type="AccessKey",
                resource_key="k",
                actor_key="",
                resource={"resourceType": "AccessKey", "accessKeyDetails": {"userName": "[/red]x"}},
                action={},
                first_seen=at,
                last_seen=at,
                event_key="e",
                object="o",
                position="p",
                feature="CloudTrail",
            )
        ],
        now_ms=0,
    )
    store.close()
    result = runner.invoke(app, ["findings", "list", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "[/red]x" in result.output


def test_the_cli_starts_without_the_heavy_libraries() -> None:
    """`trailguard --help` (and every command's start) loads no Arrow, numpy or DuckDB."""
    code = (
        "import sys, trailguard.cli; "
        "print(sorted(m for m in ('pyarrow', 'numpy', 'duckdb', 'sqlalchemy', 'boto3') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stdout
