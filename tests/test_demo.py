"""`trailguard demo` end to end: the sample's attacks are caught, its near misses are not."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from trailguard.cli import app
from trailguard.findings.store import FindingFilter, Store
from trailguard.samplegen import generate_sample


@pytest.mark.slow
def test_demo_finds_exactly_the_embedded_attacks(tmp_path: Path) -> None:
    manifest = generate_sample(tmp_path / "expected", days=3)
    db = tmp_path / "demo.db"
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "sample"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "Findings" in result.output
    found = Store.open(db).list_findings(FindingFilter(archived=None))
    assert {f["type"] for f in found} == set(manifest.expected_finding_types)
    scan = next(f for f in found if f["type"] == "Recon:EC2/Portscan")
    assert scan["service"]["additionalInfo"]["value"]["distinctCount"] >= 25
    # the demo reads every sample file and rejects none of them
    assert "records rejected" in result.output
    assert "unreadable" not in result.output
