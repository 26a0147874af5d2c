"""The reading stage: objects read before it is told which to skip, and read-ahead bounds."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import trailguard.formats.parallel
from trailguard.formats.base import ReadOptions
from trailguard.reading import END, MAX_AHEAD, START, Item, Prefetch, Reading
from trailguard.sources.base import SourceObject
from trailguard.sources.local import LocalSource


def _write_objects(folder: Path, count: int) -> list[SourceObject]:
    for n in range(count):
        records = [
            {
                "eventVersion": "1.11",
                "eventTime": f"2026-11-02T10:{n:02d}:{i:02d}Z",
                "eventName": "GetBucketAcl",
                "eventSource": "s3.amazonaws.com",
                "eventID": f"e-{n}-{i}",
            }
            for i in range(n + 1)  # object n holds n + 1 records
        ]
        (folder / f"{n:02d}.json").write_text(json.dumps({"Records": records}))
    return list(LocalSource(folder).objects())


def _wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _outline(items: Iterator[Item]) -> list[tuple[str, str, int]]:
    """(object's file name, what, rows) per item."""
    out = []
    for item in items:
        assert not isinstance(item, str), item
        obj, reading, what = item
        name = Path(obj.name).name
        if reading is None:
            out.append((name, "skipped", 0))
        elif what is START or what is END:
            out.append((name, repr(what), 0))
        else:
            assert isinstance(what, pa.RecordBatch)
            out.append((name, "batch", what.num_rows))
    return out


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The objects handed to reader processes, as they are handed over."""
    names: list[str] = []

    class Spy(trailguard.formats.parallel.ReaderPool):
        def submit(self, obj: SourceObject) -> None:
            names.append(Path(obj.name).name)
            super().submit(obj)

    monkeypatch.setattr(trailguard.formats.parallel, "ReaderPool", Spy)
    return names


@pytest.mark.parametrize("workers", [0, 2])
def test_objects_read_before_the_reading_is_told_what_to_skip_are_skipped(
    tmp_path: Path, workers: int, submitted: list[str]
) -> None:
    objs = _write_objects(tmp_path, 6)
    committed = {objs[i].name: (objs[i].version, 0) for i in (0, 2, 5)}
    reading = Reading([LocalSource(tmp_path)], ReadOptions(), workers=workers)
    try:
        if workers:
            # the first objects are already with the readers when the reading is told
            _wait_for(lambda: len(submitted) >= 5)
        reading.skip(committed)
        outline = _outline(iter(reading))
    finally:
        reading.close()
    expected: list[tuple[str, str, int]] = []
    for n in range(6):
        name = f"{n:02d}.json"
        if n in (0, 2, 5):
            expected.append((name, "skipped", 0))
        else:
            expected += [(name, "start of object", 0), (name, "batch", n + 1)]
            expected.append((name, "end of object", 0))
    assert outline == expected
    if workers:
        assert submitted[:3] == ["00.json", "01.json", "02.json"]  # read, then dropped


def test_a_changed_object_is_read_even_if_its_name_was_committed(tmp_path: Path) -> None:
    objs = _write_objects(tmp_path, 2)
    reading = Reading(
        [LocalSource(tmp_path)],
        ReadOptions(),
        workers=2,
        committed={objs[0].name: ("another version", 0), objs[1].name: (objs[1].version, 0)},
    )
    try:
        outline = _outline(iter(reading))
    finally:
        reading.close()
    assert outline == [
        ("00.json", "start of object", 0),
        ("00.json", "batch", 1),
        ("00.json", "end of object", 0),
        ("01.json", "skipped", 0),
    ]


def test_a_reading_closed_before_it_is_told_what_to_skip_stops_its_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_objects(tmp_path, 8)
    pools: list[trailguard.formats.parallel.ReaderPool] = []

    class Spy(trailguard.formats.parallel.ReaderPool):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            pools.append(self)

    monkeypatch.setattr(trailguard.formats.parallel, "ReaderPool", Spy)
    reading = Reading([LocalSource(tmp_path)], ReadOptions(), workers=2)
    _wait_for(lambda: bool(pools) and pools[0].inflight >= 4)
    started = time.monotonic()
    reading.close()
    assert time.monotonic() - started < 5
    [pool] = pools
    _wait_for(lambda: not any(p.is_alive() for p in pool._procs))


def _small_batches(count: int, pulled: list[int]) -> Iterator[Item]:
    obj = SourceObject("memory://x", "1", 0, lambda: None)  # type: ignore[arg-type,return-value]
    batch = pa.record_batch({"x": pa.array(range(100), type=pa.int64())})  # 800 bytes
    for _ in range(count):
        pulled[0] += 1
        yield obj, None, batch


def _settled(pulled: list[int]) -> int:
    """How many items the producer has taken once it stops taking more."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < 0.3:
        if pulled[0] != last:
            last, since = pulled[0], time.monotonic()
        time.sleep(0.01)
    return last


def test_prefetch_runs_ahead_by_bytes_for_small_batches_and_by_count_otherwise() -> None:
    pulled = [0]
    ahead = Prefetch(_small_batches(200, pulled), 2, "test", ahead_bytes=8_000)
    try:
        # 8,000 bytes of 800-byte batches held, and one more waiting to be put
        assert _settled(pulled) == 11
    finally:
        ahead.close()
    pulled = [0]
    by_count = Prefetch(_small_batches(200, pulled), 2, "test")
    try:
        assert _settled(pulled) == 3
        got = list(by_count)  # and everything still comes out, in order
        assert len(got) == 200
    finally:
        by_count.close()


def test_a_consumer_waiting_on_a_closed_prefetch_is_let_go() -> None:
    release = threading.Event()

    def nothing_yet() -> Iterator[Item]:
        release.wait(10)
        yield from ()

    ahead = Prefetch(nothing_yet(), 2, "test")
    got: list[Item] = []
    consumer = threading.Thread(target=lambda: got.extend(ahead), daemon=True)
    consumer.start()
    threading.Timer(0.3, release.set).start()
    ahead.close()  # the producer ends after being closed: it puts no end mark
    consumer.join(timeout=3)
    assert not consumer.is_alive()
    assert got == []


class _Listing:
    """A source that lists ``objs``, then waits for ``release`` before it ends."""

    def __init__(self, objs: list[SourceObject], release: threading.Event) -> None:
        self.objs, self.release = objs, release

    def objects(self) -> Iterator[SourceObject]:
        yield from self.objs
        self.release.wait(20)


def test_skipped_objects_behind_one_in_flight_are_handed_on_before_the_listing_ends(
    tmp_path: Path,
) -> None:
    [new] = _write_objects(tmp_path, 1)
    done = [
        SourceObject(f"{tmp_path}/gone-{n}.json", "v1", 1, new.opener)
        for n in range(MAX_AHEAD + 10)
    ]
    release = threading.Event()
    reading = Reading(
        [_Listing([new, *done], release)],
        ReadOptions(),
        workers=1,
        committed={o.name: ("v1", 0) for o in done},
    )
    first: list[Item] = []
    consumer = threading.Thread(target=lambda: first.append(next(iter(reading))), daemon=True)
    try:
        consumer.start()
        # the listing has not ended, yet the object in flight and the skipped ones behind
        # it are handed on: they are not all held until it ends
        consumer.join(timeout=10)
        assert first and not isinstance(first[0], str) and first[0][0].name == new.name
    finally:
        release.set()
        reading.close()


def test_prefetch_holds_large_batches_depth_at_a_time() -> None:
    """Batches that do not fit the byte allowance are held ``depth`` at a time
    (markers included), as without one: flow logs' 21 MB batches, four at a time."""
    pulled = [0]
    obj = SourceObject("memory://x", "1", 0, lambda: None)  # type: ignore[arg-type,return-value]
    big = pa.record_batch({"x": pa.array([1] * 2_500, type=pa.int8())})  # 2,500 bytes

    def flow_like() -> Iterator[Item]:
        pulled[0] += 1
        yield obj, None, START
        for _ in range(50):
            pulled[0] += 1
            yield obj, None, big

    ahead = Prefetch(flow_like(), 4, "test", ahead_bytes=8_000)
    try:
        # START and three batches (7,500 bytes) held; the fourth would not fit and waits
        assert _settled(pulled) == 5
    finally:
        ahead.close()
