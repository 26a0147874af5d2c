"""The store on a real PostgreSQL server: the command line end to end (scan, findings, intel),
the intel lists' binary content, opening, and the schema PostgreSQL gets.

The server is the session's ``postgres_server`` (tests/conftest.py); each test has a new
database.  The intel store's tests run on SQLite too, so that both give the same answers.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import trailguard.detections.cloudtrail
import trailguard.detections.vpcflow
from trailguard.cli import app
from trailguard.enrich.lists import IntelList
from trailguard.errors import StoreError
from trailguard.findings.intel_store import IntelStore
from trailguard.findings.store import FindingFilter, Store

CLOUDTRAIL = Path(trailguard.detections.cloudtrail.__file__).parent / "examples"
PORTSCAN = Path(trailguard.detections.vpcflow.__file__).parent / "examples" / "portscan"
TARGET = "198.51.100.20"  # the scanned host in tp_outbound_scan.log
SCRIPT = Path(sys.executable).parent / "trailguard"
NOW = 1_793_750_400_000


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No TRAILGUARD_* variables, no user config."""
    for name in list(os.environ):
        if name.startswith("TRAILGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("COLUMNS", "1000")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def all_findings(db: str) -> list[dict[str, Any]]:
    store = Store.open(db)
    try:
        return store.list_findings(FindingFilter(archived=None))
    finally:
        store.close()


def comparable(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings without the times of writing (createdAt, updatedAt), which differ per run."""
    return [{k: v for k, v in f.items() if k not in ("createdAt", "updatedAt")} for f in found]


@pytest.fixture
def cloudtrail_logs(tmp_path: Path) -> Path:
    """The built-in CloudTrail examples (positives and negatives) in one folder."""
    folder = tmp_path / "logs"
    folder.mkdir()
    for p in sorted(CLOUDTRAIL.glob("*/*.json")):
        shutil.copy(p, folder / f"{p.parent.name}__{p.name}")
    return folder


# --- the command line end to end --------------------------------------------------------


def test_scan_and_findings_on_postgresql_match_sqlite(
    cloudtrail_logs: Path, pg_url: str, tmp_path: Path
) -> None:
    sqlite_db = str(tmp_path / "same.db")
    for db in (pg_url, sqlite_db):
        # the console script, in a process of its own, with its reader processes
        proc = subprocess.run(
            [str(SCRIPT), "scan", str(cloudtrail_logs), "--db", db, "--format", "json"],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        summary = json.loads(proc.stdout)
        assert sum(summary["findingsNew"].values()) >= 2, summary
    on_pg = all_findings(pg_url)
    assert {f["type"] for f in on_pg} >= {
        "Policy:IAMUser/RootCredentialUsage",
        "Stealth:IAMUser/CloudTrailLoggingDisabled",
    }
    assert comparable(on_pg) == comparable(all_findings(sqlite_db))

    code, out = cli("findings", "list", "--db", pg_url, "--format", "json")
    assert code == 0, out
    assert [f["id"] for f in json.loads(out)["Findings"]] == [f["id"] for f in on_pg]
    # every object is checkpointed: a second scan reads nothing again and changes nothing
    code, out = cli("scan", str(cloudtrail_logs), "--db", pg_url, "--format", "json")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["objects"] == 0 and summary["findingsNew"] == {}, summary
    assert summary["skipped"] == len(list(cloudtrail_logs.iterdir())), summary
    assert comparable(all_findings(pg_url)) == comparable(on_pg)
    # show by an id prefix, archive, and the list without it
    fid = on_pg[0]["id"]
    code, out = cli("findings", "show", fid[:8].upper(), "--db", pg_url)
    assert code == 0, out
    assert json.loads(out)["id"] == fid
    code, out = cli("findings", "archive", fid, "--db", pg_url)
    assert code == 0, out
    code, out = cli("findings", "list", "--db", pg_url, "--format", "json")
    assert fid not in [f["id"] for f in json.loads(out)["Findings"]]


def test_intel_add_then_scan_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    logs = tmp_path / "flows"
    logs.mkdir()
    shutil.copy(PORTSCAN / "tp_outbound_scan.log", logs / "flows.log")
    (tmp_path / "bad.txt").write_text(f"# scanned host's address\n{TARGET}\n")
    code, out = cli("intel", "add", "bad", str(tmp_path / "bad.txt"), "--db", pg_url)
    assert code == 0, out
    code, out = cli("intel", "list", "--db", pg_url)
    assert code == 0, out
    assert "bad" in out
    code, out = cli("scan", str(logs), "--db", pg_url, "--workers", "0")
    assert code == 0, out
    by_type = {f["type"]: f for f in all_findings(pg_url)}
    assert "Recon:EC2/Portscan" in by_type  # windowed: its state went through the store
    listed = by_type["UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"]
    assert listed["service"]["evidence"]["threatIntelligenceDetails"] == [
        {"threatListName": "bad", "threatNames": []}
    ]
    assert "Stealth:Trailguard/IntelListChanged" in by_type
    code, out = cli("intel", "remove", "bad", "--db", pg_url)
    assert code == 0, out
    code, out = cli("intel", "list", "--db", pg_url, "--format", "json")
    assert code == 0, out
    assert json.loads(out) == []
    intel = IntelStore(Store.open(pg_url))
    try:
        assert [c.change for c in intel.changes("bad")] == ["removed", "added"]
    finally:
        intel.store.close()


# --- the intel lists' store, on both databases ---------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return str(tmp_path / "intel.db")


@pytest.fixture
def intel(any_db: str) -> Iterator[IntelStore]:
    store = Store.open(any_db)
    try:
        yield IntelStore(store)
    finally:
        store.close()


def meta(name: str, **changes: Any) -> IntelList:
    base = IntelList(
        name=name,
        kind="threat",
        category="custom",
        format="txt",
        location=f"/lists/{name}.txt",
        csv_column=None,
        feed=False,
        refresh_seconds=None,
        entries=2,
        bad_lines=0,
        sha256="0" * 64,
        etag=None,
        last_modified=None,
        added_at=NOW,
        refreshed_at=NOW,
        checked_at=NOW,
        last_error=None,
    )
    return replace(base, **changes)


# every byte value, NULs, invalid UTF-8 and something big: the content is binary
BINARY = bytes(range(256)) * 64 + b"\x00\x00\xff\xfe" + os.urandom(300_000)


def test_intel_lists_keep_binary_content_and_metadata(intel: IntelStore) -> None:
    intel.put(meta("b-list"), BINARY, change="added", detail={"entries": 2}, hits=[], now_ms=NOW)
    intel.put(
        meta("A-list", kind="trusted", category="", feed=True, refresh_seconds=3600, etag='"x"'),
        b"10.0.0.0/8\n",
        change="added",
        detail={"entries": 1},
        hits=[],
        now_ms=NOW + 1,
    )
    intel.put(meta("a-list"), b"", change="added", detail={}, hits=[], now_ms=NOW + 2)
    assert intel.data("b-list") == BINARY
    assert intel.data("a-list") == b""
    # names in code-point order ("A" < "a" < "b"), as on SQLite, whatever the collation
    assert [x.name for x in intel.lists()] == ["A-list", "a-list", "b-list"]
    got = intel.get("A-list")
    assert got == meta(
        "A-list", kind="trusted", category="", feed=True, refresh_seconds=3600, etag='"x"'
    )
    assert got is not None and got.feed is True and isinstance(got.added_at, int)
    intel.note_check("A-list", checked_at=NOW + 10, last_error="HTTP 503\x00")
    intel.set_schedule("A-list", feed=False, refresh_seconds=None)
    got = intel.get("A-list")
    assert got is not None
    assert (got.checked_at, got.last_error, got.feed, got.refresh_seconds) == (
        NOW + 10,
        "HTTP 503\x00",
        False,
        None,
    )


def test_intel_replace_remove_and_changes(intel: IntelStore) -> None:
    intel.put(meta("bad"), b"one\n", change="added", detail={"n": 1}, hits=[], now_ms=NOW)
    intel.put(
        meta("bad", entries=3), BINARY, change="replaced", detail={"n": 3}, hits=[], now_ms=NOW + 5
    )
    assert intel.data("bad") == BINARY
    assert [x.entries for x in intel.lists()] == [3]
    assert intel.remove("bad", detail={"why": "test"}, hits=[], now_ms=NOW + 9)
    assert not intel.remove("bad", detail={}, hits=[], now_ms=NOW + 10)
    assert intel.lists() == []
    with pytest.raises(StoreError):
        intel.data("bad")
    changes = intel.changes("bad")
    assert [(c.change, c.at, c.detail) for c in changes] == [
        ("removed", NOW + 9, {"why": "test"}),
        ("replaced", NOW + 5, {"n": 3}),
        ("added", NOW, {"n": 1}),
    ]
    assert changes[0].id > changes[1].id > changes[2].id
    assert [c.change for c in intel.changes(limit=1)] == ["removed"]
    assert intel.changes("other") == []


def test_intel_content_is_stored_compressed_as_bytes(intel: IntelStore, any_db: str) -> None:
    intel.put(meta("big"), BINARY, change="added", detail={}, hits=[], now_ms=NOW)
    engine = sa.create_engine(any_db if "://" in any_db else f"sqlite:///{any_db}")
    try:
        with engine.connect() as conn:
            blob = conn.execute(sa.text("SELECT data FROM intel_lists")).scalar_one()
    finally:
        engine.dispose()
    assert isinstance(blob, bytes)
    assert gzip.decompress(blob) == BINARY


# --- opening ---------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_is_a_store_error_that_hides_the_password() -> None:
    url = f"postgresql+psycopg://someone:s3cr3t-pw@127.0.0.1:{closed_port()}/trailguard"
    with pytest.raises(StoreError, match="cannot open store") as info:
        Store.open(url)
    assert "s3cr3t-pw" not in str(info.value)
    assert "127.0.0.1" in str(info.value)


def test_missing_database_is_a_store_error(pg_url: str) -> None:
    missing = sa.make_url(pg_url).set(database="no_such_database_here")
    with pytest.raises(StoreError, match="no_such_database_here"):
        Store.open(missing.render_as_string(hide_password=False))


def test_a_url_without_a_driver_uses_psycopg(pg_url: str) -> None:
    plain = sa.make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    store = Store.open(plain)
    try:
        assert store.engine.dialect.driver == "psycopg"
        assert store.list_findings() == []
    finally:
        store.close()


def test_many_processes_opening_a_new_database_at_once(pg_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_it() -> None:
        try:
            barrier.wait(10)
            Store.open(pg_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_schema_types_on_postgresql(pg_url: str) -> None:
    Store.open(pg_url).close()
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            types = {
                (r[0], r[1]): (r[2], r[3])
                for r in conn.execute(
                    sa.text(
                        "SELECT table_name, column_name, data_type, collation_name "
                        "FROM information_schema.columns WHERE table_schema = 'public'"
                    )
                )
            }
    finally:
        engine.dispose()
    assert types[("findings", "archived")][0] == "boolean"
    assert types[("findings", "last_seen")][0] == "bigint"
    assert types[("window_deltas", "id")][0] == "bigint"
    assert types[("quarantine", "id")][0] == "bigint"
    assert types[("window_deltas", "cells")][0] == "bytea"
    assert types[("intel_lists", "data")][0] == "bytea"
    texts = {k: v for k, v in types.items() if v[0] == "text"}
    assert texts and all(collation == "C" for _, collation in texts.values()), texts
