"""The scan's invariants: same input, same findings - whatever the batch size, file
order, repeated delivery or interruption."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trailguard.detect.registry import builtin_detections, example_files
from trailguard.findings.store import FindingFilter, Store
from trailguard.formats import ReadOptions
from trailguard.scan import Scanner
from trailguard.sources.base import SourceObject
from trailguard.sources.local import LocalSource

DETECTIONS = builtin_detections()


def corpus(dest: Path) -> list[Path]:
    """Every built-in positive and negative example, gzipped, in one folder."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for d in DETECTIONS:
        for group in example_files(d.meta.log_type, d.meta.id):
            for p in group:
                target = dest / f"{d.meta.id}__{p.name}.gz"
                target.write_bytes(gzip.compress(p.read_bytes(), mtime=0))
                out.append(target)
    return sorted(out)


def comparable(store: Store) -> list[dict[str, Any]]:
    """Findings without the wall-clock fields (createdAt/updatedAt) and object paths."""
    items = store.list_findings(FindingFilter(archived=None))
    for f in items:
        f.pop("createdAt")
        f.pop("updatedAt")
        ev = f["service"].pop("evidence")
        f["service"]["evidence_positions"] = (
            ev["firstOccurrence"]["position"],
            ev["latestOccurrence"]["position"],
        )
    return sorted(items, key=lambda f: f["id"])


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{path}.{k}"))
        return out
    return {path: value}


def assert_same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    """Equal findings, or an error naming the fields that differ."""
    fa = {f["id"]: flatten(f) for f in a}
    fb = {f["id"]: flatten(f) for f in b}
    assert sorted(fa) == sorted(fb), (sorted(fa), sorted(fb))
    diffs = [
        (fid, k, fa[fid].get(k), fb[fid].get(k))
        for fid in fa
        for k in sorted(set(fa[fid]) | set(fb[fid]))
        if fa[fid].get(k) != fb[fid].get(k)
    ]
    assert not diffs, diffs


class ListSource:
    def __init__(self, objects: list[SourceObject]) -> None:
        self._objects = objects

    def objects(self) -> Iterator[SourceObject]:
        yield from self._objects


def scan(db: Path, sources: list[Any], batch_rows: int = 65_536) -> Store:
    store = Store.open(db)
    summary = Scanner(store, DETECTIONS, ReadOptions(batch_rows=batch_rows)).scan(sources)
    assert not summary.detection_errors, summary.detection_errors
    return store


@pytest.fixture
def data(tmp_path: Path) -> Path:
    corpus(tmp_path / "logs")
    return tmp_path / "logs"


def test_findings_of_every_log_type(data: Path, tmp_path: Path) -> None:
    store = scan(tmp_path / "a.db", [LocalSource(data)])
    types = {f["type"] for f in store.list_findings()}
    assert {
        "Policy:IAMUser/RootCredentialUsage",
        "Stealth:IAMUser/CloudTrailLoggingDisabled",
        "Recon:EC2/Portscan",
        "UnauthorizedAccess:EC2/MetadataDNSRebind",
    } <= types


def test_scanning_twice_changes_nothing(data: Path, tmp_path: Path) -> None:
    store = scan(tmp_path / "a.db", [LocalSource(data)])
    first = comparable(store)
    summary = Scanner(store, DETECTIONS).scan([LocalSource(data)])
    assert summary.objects == 0 and summary.skipped == len(list(data.iterdir()))
    assert comparable(store) == first
    assert first and all(f["service"]["count"] >= 1 for f in first)


def test_batch_size_does_not_matter(data: Path, tmp_path: Path) -> None:
    big = comparable(scan(tmp_path / "a.db", [LocalSource(data)]))
    small = comparable(scan(tmp_path / "b.db", [LocalSource(data)], batch_rows=2))
    assert_same(big, small)


def test_file_order_does_not_matter(data: Path, tmp_path: Path) -> None:
    objs = list(LocalSource(data).objects())
    forward = comparable(scan(tmp_path / "a.db", [ListSource(objs)]))
    backward = comparable(scan(tmp_path / "b.db", [ListSource(objs[::-1])]))
    assert_same(forward, backward)


def test_repeated_delivery_is_not_double_counted(data: Path, tmp_path: Path) -> None:
    once = comparable(scan(tmp_path / "a.db", [LocalSource(data)]))
    twice_dir = tmp_path / "twice"
    shutil.copytree(data, twice_dir / "copy1")
    shutil.copytree(data, twice_dir / "copy2")
    twice = comparable(scan(tmp_path / "b.db", [LocalSource(twice_dir)]))
    assert [f["service"]["count"] for f in once] == [f["service"]["count"] for f in twice]
    assert [f["id"] for f in once] == [f["id"] for f in twice]


class Crash(Exception):
    pass


def test_interrupted_scan_resumes_to_the_same_findings(data: Path, tmp_path: Path) -> None:
    expected = comparable(scan(tmp_path / "a.db", [LocalSource(data)]))
    objs = list(LocalSource(data).objects())
    crash_at = len(objs) // 2

    def boom() -> Any:
        raise Crash("power cut")

    crashing = [*objs[:crash_at], SourceObject(objs[crash_at].name, "x", 1, boom)]
    store = Store.open(tmp_path / "b.db")
    with pytest.raises(Crash):
        # the opener raising something that is not an OSError stands in for a crash
        Scanner(store, DETECTIONS).scan([ListSource(crashing)])
    Scanner(store, DETECTIONS).scan([LocalSource(data)])
    assert_same(comparable(store), expected)


def test_bad_objects_are_reported_and_the_rest_is_read(data: Path, tmp_path: Path) -> None:
    good = comparable(scan(tmp_path / "a.db", [LocalSource(data)]))
    whole = gzip.compress(b'{"Records": []}' * 1000)
    (data / "truncated.json.gz").write_bytes(whole[: len(whole) // 2])
    (data / "empty.json").write_bytes(b"")
    (data / "garbage.bin").write_bytes(b"\x00\x01\x02 not a log")
    store = Store.open(tmp_path / "b.db")
    summary = Scanner(store, DETECTIONS).scan([LocalSource(data)])
    assert summary.unreadable
    failed = {Path(r.object).name: r for r in summary.failed_objects}
    assert set(failed) == {"truncated.json.gz", "empty.json", "garbage.bin"}
    assert "truncated" in failed["truncated.json.gz"].reason
    assert failed["truncated.json.gz"].position.startswith("compressed byte")
    assert_same(comparable(store), good)
    quarantined = {Path(q.object).name for q in store.quarantined()}
    assert quarantined == set(failed)


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.log.gz"
    bomb.write_bytes(gzip.compress(b"2 " * 5_000_000))
    store = Store.open(tmp_path / "a.db")
    summary = Scanner(store, DETECTIONS, ReadOptions(max_decompressed_bytes=1_000_000)).scan(
        [LocalSource(bomb)]
    )
    assert len(summary.failed_objects) == 1
    assert "decompression bomb" in summary.failed_objects[0].reason


def split_portscan(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """The port-scan example cut in two objects; and its flow lines."""
    src = example_files("vpcflow", "portscan")[0][0]
    header, *lines = src.read_text().splitlines()
    half = len(lines) // 2
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("\n".join([header, *lines[:half]]) + "\n")
    b.write_text("\n".join([header, *lines[half:]]) + "\n")
    return a, b, lines


def test_window_state_survives_across_runs(tmp_path: Path) -> None:
    """A port scan split over two objects, scanned in two separate runs, is still found."""
    a, b, lines = split_portscan(tmp_path)
    store = Store.open(tmp_path / "s.db")
    Scanner(store, DETECTIONS).scan([LocalSource(a)])
    assert not [f for f in store.list_findings() if f["type"] == "Recon:EC2/Portscan"]
    store.close()
    store = Store.open(tmp_path / "s.db")
    Scanner(store, DETECTIONS).scan([LocalSource(b)])
    scans = [f for f in store.list_findings() if f["type"] == "Recon:EC2/Portscan"]
    assert len(scans) == 1
    assert scans[0]["service"]["additionalInfo"]["value"]["distinctCount"] == len(lines)


def test_reader_processes_give_the_same_findings(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trailguard.formats.parallel

    submitted: list[str] = []

    class CountingPool(trailguard.formats.parallel.ReaderPool):
        def submit(self, obj: SourceObject) -> None:
            submitted.append(Path(obj.name).name)
            super().submit(obj)

    monkeypatch.setattr(trailguard.formats.parallel, "ReaderPool", CountingPool)
    whole = gzip.compress(b'{"Records": []}' * 1000)
    (data / "truncated.json.gz").write_bytes(whole[: len(whole) // 2])
    (data / "bad-record.json").write_text(
        '{"Records": [{"eventTime": "2026-11-02T10:00:00Z", "eventName": 5}]}'
    )
    one = Store.open(tmp_path / "one.db")
    s1 = Scanner(one, DETECTIONS).scan([LocalSource(data)])
    two = Store.open(tmp_path / "two.db")
    s2 = Scanner(two, DETECTIONS, workers=2).scan([LocalSource(data)])
    assert not s1.detection_errors and not s2.detection_errors, (s1, s2)
    assert_same(comparable(one), comparable(two))
    assert s1.events == s2.events and s1.rejected == s2.rejected == 2
    assert [(r.object, r.position) for r in s1.failed_objects] == [
        (r.object, r.position) for r in s2.failed_objects
    ]
    assert [(q.object, q.position, q.reason) for q in one.quarantined()] == [
        (q.object, q.position, q.reason) for q in two.quarantined()
    ]
    # JSON logs went to the reader processes; flow logs (and unreadable objects) did not
    assert "bad-record.json" in submitted
    assert any(n.endswith(".jsonl.gz") for n in submitted)
    assert not any(n.endswith(".log.gz") for n in submitted)


def test_compacted_window_state_survives_across_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, but the state is compacted into a snapshot saved in small slices."""
    import trailguard.detect.engine
    import trailguard.formats.parallel

    monkeypatch.setattr(trailguard.scan, "COMPACT_AFTER_DELTAS", 0)
    monkeypatch.setattr(trailguard.detect.engine, "SNAPSHOT_ROWS", 2)
    a, b, lines = split_portscan(tmp_path)
    store = Store.open(tmp_path / "s.db")
    Scanner(store, DETECTIONS).scan([LocalSource(a)])
    saved, _ = store.load_windows(["portscan"])
    assert len(saved) > 2 and all(d.snapshot for d in saved)
    Scanner(store, DETECTIONS).scan([LocalSource(b)])
    scans = [f for f in store.list_findings() if f["type"] == "Recon:EC2/Portscan"]
    assert len(scans) == 1
    assert scans[0]["service"]["additionalInfo"]["value"]["distinctCount"] == len(lines)
    # the evidence names the object that held the earliest probe, as saved by name
    assert scans[0]["service"]["evidence"]["firstOccurrence"]["object"] == str(a.resolve())


def test_object_whose_reader_died_is_read_again_next_scan(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader process killed while reading an object: the scan goes on, reports the
    object, writes no checkpoint for it, and the next scan reads it in full."""
    import os
    import signal

    import trailguard.formats.parallel

    victim = sorted(p for p in data.rglob("*") if p.name.endswith(".json.gz"))[0]

    class KillingPool(trailguard.formats.parallel.ReaderPool):
        def take(self) -> Any:
            obj, worker = self._inflight[0]
            for reading, batch in super().take():
                if batch is not None and obj.name == str(victim.resolve()):
                    pid = self._procs[worker].pid
                    assert pid is not None
                    os.kill(pid, signal.SIGKILL)
                    continue  # this object's batches are lost with its reader
                yield reading, batch

    monkeypatch.setattr(trailguard.formats.parallel, "ReaderPool", KillingPool)
    store = Store.open(tmp_path / "s.db")
    first = Scanner(store, DETECTIONS, workers=1).scan([LocalSource(data)])
    # one object died with its reader (the victim, or the next one if the victim was
    # already read); the ones queued behind it went to a new reader
    [died] = first.failed_objects
    assert "died" in died.reason
    version = next(LocalSource(Path(died.object)).objects()).version
    assert not store.is_committed(died.object, version)
    assert first.objects == len([p for p in data.rglob("*") if p.is_file()])
    monkeypatch.undo()
    second = Scanner(store, DETECTIONS, workers=1).scan([LocalSource(data)])
    assert second.objects == 1 and not second.failed_objects
    assert store.is_committed(died.object, version)


def test_an_object_given_twice_keeps_one_quarantine_entry(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"Records": [{"eventTime": "2026-11-02T10:00:00Z", "eventName": 5}]}')
    store = Store.open(tmp_path / "s.db")
    Scanner(store, DETECTIONS).scan([LocalSource(bad), LocalSource(bad)])
    assert len(store.quarantined()) == 1


def test_a_resumed_scan_forgets_what_an_uninterrupted_one_had_forgotten(tmp_path: Path) -> None:
    """Windows older than the retention are pruned from the saved state as it loads: half
    a port scan, then events three hours later, then the other half late. Scanned in one
    run (one-hour retention) or in three, the late half finds no old half to join."""
    a, b, lines = split_portscan(tmp_path)
    header = example_files("vpcflow", "portscan")[0][0].read_text().splitlines()[0]
    fields = lines[0].split()
    fields[10], fields[11] = str(int(fields[10]) + 3 * 3600), str(int(fields[11]) + 3 * 3600)
    later = tmp_path / "later.log"
    later.write_text(f"{header}\n{' '.join(fields)}\n")
    hour = 3_600_000

    def portscans(db: Path, runs: list[list[Path]]) -> int:
        for files in runs:
            store = Store.open(db)
            Scanner(store, DETECTIONS, retention_ms=hour).scan(
                [ListSource([]), *map(LocalSource, files)]
            )
            store.close()
        store = Store.open(db)
        found = [f for f in store.list_findings() if f["type"] == "Recon:EC2/Portscan"]
        store.close()
        return len(found)

    assert portscans(tmp_path / "one.db", [[a, later, b]]) == 0
    assert portscans(tmp_path / "three.db", [[a], [later], [b]]) == 0
    assert portscans(tmp_path / "whole.db", [[a], [b]]) == 1  # within the retention: found
