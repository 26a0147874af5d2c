"""Reader processes: batches come back through shared memory, whole and in order."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from trailguard.formats import read_object
from trailguard.formats.base import ReadOptions
from trailguard.formats.parallel import ReaderPool
from trailguard.sources.local import LocalSource


def record(n: int, **fields: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
        "eventTime": f"2024-03-01T12:00:{n % 60:02d}Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetBucketAcl",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.1",
        "requestParameters": {"bucketName": "amzn-s3-demo-bucket"},
        "eventID": f"3e8e8a3f-0000-4000-8000-{n:012d}",
    }
    rec.update(fields)
    return rec


def records_file(*records: dict[str, Any]) -> bytes:
    return json.dumps({"Records": list(records)}, separators=(",", ":")).encode()


def _files(tmp_path: Path) -> list[Path]:
    small = tmp_path / "a-small.json"
    small.write_bytes(records_file(*(record(n) for n in range(5))))
    # many rows: a batch larger than a slot, sent in pieces
    many = tmp_path / "b-many.json.gz"
    many.write_bytes(gzip.compress(records_file(*(record(n) for n in range(3000)))))
    # one row larger than a slot: sent through the pipe
    huge = tmp_path / "c-huge.json"
    huge.write_bytes(
        records_file(record(1), record(2, requestParameters={"policy": "x" * 300_000}), record(3))
    )
    bad = tmp_path / "d-bad.json"
    bad.write_text(
        json.dumps({"Records": [record(1), {"eventTime": "2024-03-01T12:00:00Z", "eventName": 5}]})
    )
    return [small, many, huge, bad]


def _in_process(paths: list[Path], options: ReadOptions) -> list[tuple[pa.Table, list[str]]]:
    out = []
    for path in paths:
        [obj] = LocalSource(path).objects()
        reading = read_object(obj, options)
        table = pa.Table.from_batches(list(reading.batches()))
        out.append((table, [f"{r.position}: {r.reason}" for r in reading.ctx.rejects]))
    return out


def test_pool_gives_what_one_process_reads(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    options = ReadOptions(batch_rows=2000)
    expected = _in_process(paths, options)
    slot = 64 * 1024
    pool = ReaderPool(2, options, slot_bytes=slot)
    got = []
    try:
        for path in paths:
            [obj] = LocalSource(path).objects()
            pool.submit(obj)
        for _ in paths:
            taken = list(pool.take())
            reading = taken[-1][0]
            batches = [b for _, b in taken if b is not None]
            got.append(
                (
                    pa.Table.from_batches(batches, schema=batches[0].schema),
                    [f"{r.position}: {r.reason}" for r in reading.ctx.rejects],
                    len(batches),
                    reading.rows,
                )
            )
    finally:
        pool.close()
    for (table, rejects, _, rows), (want, want_rejects) in zip(got, expected, strict=True):
        assert table.equals(want)
        assert rows == want.num_rows
        assert rejects == want_rejects
    # the 3,000-row file came in several pieces, each under a slot
    assert got[1][2] > 2
    assert got[1][0].num_rows == 3000
    # the record bigger than a slot came whole
    assert got[2][0].num_rows == 3
    assert len(got[2][0]["requestParameters"][1].as_py()) > slot
    assert got[3][1] and "eventName" in got[3][1][0]


def test_pool_releases_its_shared_memory(tmp_path: Path) -> None:
    [path, *_] = _files(tmp_path)
    pool = ReaderPool(1, ReadOptions())
    names = [block.name for block in pool._blocks]
    [obj] = LocalSource(path).objects()
    pool.submit(obj)
    assert sum(b.num_rows for _, b in pool.take() if b is not None) == 5
    pool.close()
    shm = Path("/dev/shm")
    if shm.is_dir():
        assert not [n for n in names if (shm / n.lstrip("/")).exists()]


def test_pool_closed_mid_object_stops_its_workers(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    pool = ReaderPool(1, ReadOptions(batch_rows=100), slot_bytes=64 * 1024)
    [obj] = LocalSource(paths[1]).objects()
    pool.submit(obj)
    taken = pool.take()
    next(taken)  # one batch read; the worker is now waiting for a free slot
    pool.close()
    assert not any(p.is_alive() for p in pool._procs)


def test_readers_are_forked_from_the_server() -> None:
    """Where the platform has a fork server, readers are its forks, not new interpreters."""
    import multiprocessing
    from multiprocessing import forkserver

    from trailguard import processes

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork server on this platform")
    processes.start_server()
    pool = ReaderPool(1, ReadOptions())
    try:
        [proc] = pool._procs
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        assert parent == forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
        assert parent != os.getpid()
    finally:
        pool.close()


def test_no_room_in_shared_memory_falls_back_to_the_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shared memory that cannot be reserved (a full /dev/shm) means every batch goes
    through the pipe, not a reader killed by SIGBUS halfway."""
    import errno

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    paths = _files(tmp_path)
    options = ReadOptions(batch_rows=2000)
    expected = _in_process(paths, options)
    pool = ReaderPool(2, options)
    try:
        assert pool._blocks == [] and pool.slot_bytes == 0
        for path in paths:
            [obj] = LocalSource(path).objects()
            pool.submit(obj)
        for want, _ in expected:
            taken = list(pool.take())
            got = pa.Table.from_batches([b for _, b in taken if b is not None], schema=want.schema)
            assert got.equals(want)
    finally:
        pool.close()


def test_a_reader_that_dies_is_reported_for_another_try(tmp_path: Path) -> None:
    """A reader killed mid-object: the object is failed and marked to be read again (no
    exception, and its kind stays what its batches said)."""
    import signal

    paths = _files(tmp_path)
    pool = ReaderPool(1, ReadOptions(batch_rows=100), slot_bytes=64 * 1024)
    try:
        [obj] = LocalSource(paths[1]).objects()
        pool.submit(obj)
        taken = pool.take()
        reading, batch = next(taken)
        assert batch is not None
        [proc] = pool._procs
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        rest = list(taken)
        reading, last = rest[-1]
        assert last is None
        assert reading.failed and reading.retry
        assert reading.kind == "cloudtrail"
        assert "died" in reading.ctx.rejects[-1].reason
    finally:
        pool.close()
