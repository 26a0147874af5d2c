"""`trailguard demo` end to end: the sample's attacks are caught, its near misses are not."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from trailguard.cli import app
from trailguard.findings.store import FindingFilter, Store
from trailguard.samplegen import ATTACKER_IP, generate_sample


@pytest.mark.slow
def test_demo_finds_exactly_the_embedded_attacks(tmp_path: Path) -> None:
    manifest = generate_sample(tmp_path / "expected", days=3)
    db = tmp_path / "demo.db"
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "sample"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "Findings" in result.output
    found = Store.open(db).list_findings(FindingFilter(archived=None))
    # the demo loads its threat lists first: each addition is itself a (Low) finding
    assert {f["type"] for f in found} == {
        *manifest.expected_finding_types,
        *manifest.intel_finding_types,
        "Stealth:Trailguard/IntelListChanged",
    }
    assert {
        "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom",
        "Backdoor:EC2/C&CActivity.B!DNS",
        "UnauthorizedAccess:IAMUser/TorIPCaller",
    } <= set(manifest.intel_finding_types)
    tor = next(f for f in found if f["type"] == "UnauthorizedAccess:IAMUser/TorIPCaller")
    assert tor["service"]["evidence"]["threatIntelligenceDetails"] == [
        {"threatListName": "demo-tor-exits", "threatNames": []}
    ]
    remote = tor["service"]["action"]["awsApiCallAction"]["remoteIpDetails"]
    assert remote["ipAddressV4"] == ATTACKER_IP
    bad_ip = next(
        f for f in found if f["type"] == "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"
    )
    assert bad_ip["service"]["additionalInfo"]["value"]["threatListName"] == "demo-threats"
    scan = next(f for f in found if f["type"] == "Recon:EC2/Portscan")
    assert scan["service"]["additionalInfo"]["value"]["distinctCount"] >= 25
    # the demo reads every sample file and rejects none of them
    assert "records rejected" in result.output
    assert "unreadable" not in result.output
