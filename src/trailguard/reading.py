"""The reading stage of a scan: sources -> objects, their batches and markers, in order.

:class:`Reading` lists the sources and reads their objects on a thread of its
own, a few batches ahead of whoever consumes it.  JSON logs go to reader
processes (:class:`~trailguard.formats.parallel.ReaderPool`); flow logs, which
parse in C++ with the GIL released, are read on the thread itself.

The module imports nothing heavier than pyarrow, so ``trailguard scan`` starts
its reading first thing: the reader processes are busy with the first objects
while the command is still importing DuckDB and building its detections.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from trailguard.errors import SourceError
from trailguard.formats import ObjectReading, ReadOptions, peek_kind, read_object
from trailguard.processes import POOLED_KINDS
from trailguard.sources.base import Source, SourceObject

if TYPE_CHECKING:
    import pyarrow as pa

    from trailguard.enrich.enricher import EnrichResult
    from trailguard.formats.parallel import ReaderPool

#: batches read ahead (on another thread) while the detections run: decompression,
#: CSV parsing and DuckDB release the GIL, so reading and detecting overlap
PREFETCH_BATCHES: Final = 4
#: the reading runs further ahead while its batches fit in this: a scan's
#: first CloudTrail objects (~2 MB of batch each) are read while the command is still
#: starting up (~0.3 s of two readers' work), not 4 batches' worth
READ_AHEAD_BYTES: Final = 32 * 1024 * 1024
#: items held ahead at most, whatever their size (markers of skipped objects weigh nothing)
MAX_AHEAD: Final = 1024


class Marker:
    """The start or the end of an object, between its batches."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


START: Final = Marker("start of object")
END: Final = Marker("end of object")

Item = tuple[SourceObject, "ObjectReading | None", "pa.RecordBatch | EnrichResult | Marker"] | str
"""An object with its reading (``None``: skipped, already committed) and a batch, an
enrichment result or a marker; or a source's error message."""


class _Closed(Exception):
    """The reading was closed while it waited."""


class Prefetch:
    """Runs an iterator on a daemon thread, ahead of its consumer, in order.

    It runs ``depth`` items ahead, or further while the batches it holds fit in
    ``ahead_bytes`` (at most :data:`MAX_AHEAD` items): small batches (a CloudTrail
    object's) can then pile up while the consumer is not ready yet, large ones
    (flow logs') are held ``depth`` at a time.  An exception in the
    iterator is raised where the consumer reads it; closing stops the producer at
    its next item.
    """

    def __init__(self, items: Iterator[Item], depth: int, name: str, ahead_bytes: int = 0) -> None:
        self._items: deque[tuple[str, Any, int]] = deque()
        self._held = 0  # bytes of the batches held
        self._depth = depth
        self._ahead_bytes = ahead_bytes
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _room(self, size: int) -> bool:
        """Whether an item of ``size`` bytes may be held now: within ``depth`` items
        always; beyond, only if it fits in ``ahead_bytes`` with the batches held (so
        large batches are held ``depth`` at a time, as without a byte allowance)."""
        n = len(self._items)
        if n < self._depth:
            return True
        return bool(self._ahead_bytes) and n < MAX_AHEAD and self._held + size <= self._ahead_bytes

    def _put(self, kind: str, value: Any) -> bool:
        # (a batch's bytes; markers, enrichment results and errors weigh nothing)
        size = getattr(value[2], "nbytes", 0) if kind == "item" and isinstance(value, tuple) else 0
        with self._cond:
            while not self._room(size):
                if self._stop.is_set():
                    return False
                self._cond.wait(0.1)
            if self._stop.is_set():
                return False
            self._items.append((kind, value, size))
            self._held += size
            self._cond.notify_all()
        return True

    def _run(self, items: Iterator[Item]) -> None:
        try:
            for item in items:
                if not self._put("item", item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put("error", exc)
            return
        self._put("end", None)

    def __iter__(self) -> Iterator[Item]:
        while True:
            with self._cond:
                while not self._items:
                    if self._stop.is_set():
                        return  # closed: the producer will put nothing more
                    self._cond.wait(0.1)
                kind, value, size = self._items.popleft()
                self._held -= size
                self._cond.notify_all()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=5)


class Reading:
    """Reads every object of ``sources`` from now on, on a thread of its own.

    Objects already committed with the same version are not read again: they come
    as ``(obj, None, START)``.  Which those are is told by :meth:`skip`, before or
    after the reading begins (``trailguard scan`` begins it before the store is
    open): until then, objects are read but none is handed on.  With ``workers``,
    the objects that can be sent to another process are read by a
    :class:`ReaderPool` (up to two per worker in flight); the rest are read on the
    thread, after those in flight, so the order never changes.  Iterate it once;
    :meth:`close` it in any case.
    """

    def __init__(
        self,
        sources: Iterable[Source],
        options: ReadOptions,
        *,
        workers: int,
        committed: Mapping[str, tuple[str | None, int]] | None = None,
    ) -> None:
        self.options = options
        self.workers = workers
        self.committed: Mapping[str, tuple[str | None, int]] = {}
        self._told = threading.Event()
        self._closed = threading.Event()
        if committed is not None:
            self.skip(committed)
        self._prefetch = Prefetch(
            self._produce(sources),
            PREFETCH_BATCHES,
            "trailguard-read",
            ahead_bytes=READ_AHEAD_BYTES,
        )

    def skip(self, committed: Mapping[str, tuple[str | None, int]]) -> None:
        """The objects already committed (name -> version, rejected records); told
        again, the new mapping replaces the old (the scanner's, kept up to date)."""
        self.committed = committed
        self._told.set()

    def __iter__(self) -> Iterator[Item]:
        return iter(self._prefetch)

    def close(self) -> None:
        self._closed.set()
        self._prefetch.close()

    def _done(self, obj: SourceObject) -> bool:
        """Whether ``obj`` is committed with this version (waits until told which are)."""
        while not self._told.wait(0.1):
            if self._closed.is_set():
                raise _Closed
        done = self.committed.get(obj.name)
        return done is not None and done[0] == obj.version

    def _produce(self, sources: Iterable[Source]) -> Iterator[Item]:
        pool: ReaderPool | None = None  # started when the first object needs it
        # objects not yet handed on, in order, each with whether the pool reads it
        ahead: deque[tuple[SourceObject, bool]] = deque()
        try:
            for source in sources:
                try:
                    for obj in source.objects():
                        if self._told.is_set() and self._done(obj):
                            ahead.append((obj, False))
                        elif self.workers > 0 and self._to_pool(obj):
                            if pool is None:
                                from trailguard.formats.parallel import ReaderPool

                                pool = ReaderPool(self.workers, self.options)
                            pool.submit(obj)
                            ahead.append((obj, True))
                        else:
                            yield from self._hand_on(pool, ahead, keep=0)
                            yield from self._read_here(obj)
                            continue
                        yield from self._hand_on(pool, ahead, keep=2 * self.workers)
                except SourceError as exc:
                    yield str(exc)
            yield from self._hand_on(pool, ahead, keep=0)
        except _Closed:
            return
        finally:
            if pool is not None:
                pool.close()

    def _hand_on(
        self, pool: ReaderPool | None, ahead: deque[tuple[SourceObject, bool]], keep: int
    ) -> Iterator[Item]:
        """Hand on the oldest objects until at most ``keep`` are left with the pool (and
        at most :data:`MAX_AHEAD` skipped ones wait behind them)."""
        while ahead and (
            not ahead[0][1]
            or (pool is not None and pool.inflight > keep)
            or len(ahead) > keep + MAX_AHEAD
        ):
            obj, pooled = ahead.popleft()
            if pooled and pool is not None:
                yield from self._take(pool)
            else:
                yield obj, None, START

    def _read_here(self, obj: SourceObject) -> Iterator[Item]:
        if self._done(obj):
            yield obj, None, START
            return
        reading = read_object(obj, self.options)
        yield obj, reading, START
        for batch in reading.batches():
            yield obj, reading, batch
        yield obj, reading, END

    def _take(self, pool: ReaderPool) -> Iterator[Item]:
        """The oldest object in flight: its items, or only the mark of a skipped one
        (sent before the reading was told it was committed)."""
        items = pool.take()
        reading, batch = next(items)
        obj = reading.object
        if self._done(obj):
            for _ in items:  # (its batches, dropped)
                pass
            yield obj, None, START
            return
        yield obj, reading, START
        yield obj, reading, END if batch is None else batch
        for reading, batch in items:
            yield obj, reading, END if batch is None else batch

    def _to_pool(self, obj: SourceObject) -> bool:
        """JSON logs decode under the GIL, so they go to reader processes; flow logs
        parse in C++ with the GIL released, so a thread reads them without the cost
        of sending batches between processes.  S3 objects all go to reader processes:
        reading them waits on the network, which several processes overlap, and a
        look at their first bytes would cost a request each."""
        from trailguard.formats.parallel import picklable

        if not picklable(obj):
            return False
        if obj.name.startswith("s3://"):
            return True
        return peek_kind(obj, self.options) in POOLED_KINDS
