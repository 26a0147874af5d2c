"""`trailguard scan` uses the store's lists: threat details on findings, trusted rows unseen."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trailguard.cli import app
from trailguard.findings.store import FindingFilter, Store

EXAMPLES = Path(__file__).parents[2] / "src" / "trailguard" / "detections" / "vpcflow" / "examples"
SCAN = EXAMPLES / "portscan" / "tp_outbound_scan.log"
TARGET = "198.51.100.20"  # the scanned host in that example


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    shutil.copy(SCAN, folder / "flows.log")
    return folder


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def findings(db: Path) -> list[dict[str, object]]:
    store = Store.open(db)
    try:
        return store.list_findings(FindingFilter(archived=None))
    finally:
        store.close()


def test_scan_findings_carry_threat_intelligence_of_the_store_lists(
    tmp_path: Path, logs: Path
) -> None:
    db = tmp_path / "t.db"
    (tmp_path / "bad.txt").write_text(f"# scanned host's address\n{TARGET}\n")
    code, out = run("intel", "add", "bad", str(tmp_path / "bad.txt"), "--db", str(db))
    assert code == 0, out
    code, out = run("scan", str(logs), "--db", str(db), "--workers", "0")
    assert code == 0, out
    by_type = {f["type"]: f for f in findings(db)}
    assert "Recon:EC2/Portscan" in by_type
    listed = by_type["UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"]
    assert listed["service"]["evidence"]["threatIntelligenceDetails"] == [  # type: ignore[index]
        {"threatListName": "bad", "threatNames": []}
    ]
    assert listed["service"]["additionalInfo"]["value"]["threatListName"] == "bad"  # type: ignore[index]
    assert "Stealth:Trailguard/IntelListChanged" in by_type


def test_a_trusted_address_silences_every_detection(tmp_path: Path, logs: Path) -> None:
    db = tmp_path / "t.db"
    (tmp_path / "bad.txt").write_text(f"{TARGET}\n")
    (tmp_path / "ok.txt").write_text(f"{TARGET}\n")
    for name, kind in (("bad", "threat"), ("ok", "trusted")):
        code, out = run(
            "intel", "add", name, str(tmp_path / f"{name}.txt"), "--kind", kind, "--db", str(db)
        )
        assert code == 0, out
    code, out = run("scan", str(logs), "--db", str(db), "--workers", "0", "--format", "json")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["trustedRecords"] == SCAN.read_text().count(TARGET)
    assert {f["type"] for f in findings(db)} == {"Stealth:Trailguard/IntelListChanged"}
