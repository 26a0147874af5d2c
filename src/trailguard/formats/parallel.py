"""Read objects in worker processes, streaming their batches back in order.

Decoding JSON holds Python's GIL, so on its own thread it cannot overlap the
detections; in another process it can.  Each worker reads the objects it is
given one after the other and sends each batch back as Arrow IPC bytes.

The bytes go through shared memory, not the pipe: each worker has a few slots
of :data:`SLOT_BYTES` in a block of shared memory, writes a batch into a free
slot and sends only the slot's number and size on the pipe; the reader copies
the batch out and hands the slot back.  (A pipe copies every byte through the
kernel twice and costs a system call per 64 kB: on a 2-core VM, sending a
CloudTrail scan's 420 MB of batches took about 0.5 CPU-s on each side, shared
memory about 0.02.)  A batch too large for a slot is cut into pieces that fit,
and a single row too large for one goes through the pipe.  A worker with no
free slot waits for one, so memory stays bounded by a few batches, as in one
process.
Workers are forked from a server process that has already imported them
(:mod:`trailguard.processes`).
Objects are handed out round-robin and taken back in the same order, so the
caller sees exactly the sequence a single-process read would give.

Only objects that can be pickled go to workers (local files, and S3 objects
listed with a client the source made, which a worker makes again with the
caller's AWS settings); the caller reads the others itself.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.shared_memory import SharedMemory
from typing import Any, Final, TypeVar

import pyarrow as pa

from trailguard import processes
from trailguard.formats import ObjectReading, read_object
from trailguard.formats.base import ReadOptions, Reject
from trailguard.formats.schema import SCHEMAS
from trailguard.sources.base import SourceObject


def picklable(obj: SourceObject) -> bool:
    try:
        pickle.dumps(obj)
    except (pickle.PicklingError, TypeError, AttributeError):
        return False
    return True


#: bytes of one shared-memory slot, and slots per worker
SLOT_BYTES: Final = 16 * 1024 * 1024
SLOTS: Final = 2


def _reserve(workers: int, slot_bytes: int) -> list[SharedMemory]:
    """Each worker's block of slots, its memory reserved now: a block only sized (as
    ``SharedMemory`` does) is backed page by page as it is written, and a full ``/dev/shm``
    (64 MB in a default container) then kills the writer with SIGBUS.  If the space is
    not there, no blocks: every batch goes through the pipe instead."""
    blocks: list[SharedMemory] = []
    try:
        for _ in range(workers):
            block = SharedMemory(create=True, size=SLOTS * slot_bytes)
            blocks.append(block)
            fd = getattr(block, "_fd", -1)
            if fd >= 0 and hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, SLOTS * slot_bytes)
    except (OSError, ValueError):
        for block in blocks:
            block.close()
            block.unlink()
        return []
    return blocks


def _view(block: SharedMemory) -> memoryview:
    view = block.buf
    assert view is not None  # (None only once closed)
    return view


class _Sender:
    """A worker's end: batches into its free slots, their places on the pipe."""

    def __init__(
        self, results: Connection, freed: Connection, block: str | None, slot_bytes: int
    ) -> None:
        self.results, self.freed = results, freed
        self.shm = SharedMemory(name=block) if block is not None else None
        self.free = list(range(SLOTS))
        self.slot_bytes = slot_bytes  # 0 when there is no block (ReaderPool sees to it)

    def send(self, kind: str, batch: pa.RecordBatch) -> None:
        data = batch.serialize()
        if data.size <= self.slot_bytes:
            self._put(kind, data)
            return
        if batch.num_rows > 1 and self.slot_bytes:  # in pieces that fit a slot (with room)
            rows = max(1, batch.num_rows * self.slot_bytes // (data.size + data.size // 4))
            for start in range(0, batch.num_rows, rows):
                self.send(kind, batch.slice(start, rows))
            return
        # one row larger than a slot (or no shared memory): raw bytes on the pipe, no pickling
        self.results.send(("batch", kind, -1, data.size))
        self.results.send_bytes(memoryview(data).cast("B"))

    def _put(self, kind: str, data: pa.Buffer) -> None:
        if not self.free:
            self.free.append(self.freed.recv())  # wait until the reader has copied one out
        slot = self.free.pop()
        start = slot * self.slot_bytes
        assert self.shm is not None
        _view(self.shm)[start : start + data.size] = memoryview(data).cast("B")
        self.results.send(("batch", kind, slot, data.size))

    def close(self) -> None:
        if self.shm is not None:
            self.shm.close()


def _work(
    tasks: Any,
    results: Connection,
    freed: Connection,
    block: str | None,
    slot_bytes: int,
    options: ReadOptions,
    aws_env: dict[str, str],
) -> None:
    """A worker's loop: read each object it is given, send batches, then the tallies."""
    # the caller's AWS settings now (the fork server's copy of the environment may be
    # older), for the S3 clients a worker makes to open S3 objects itself
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(aws_env)
    sender = _Sender(results, freed, block, slot_bytes)
    try:
        _serve(tasks, sender, options)
    finally:
        sender.close()


def _serve(tasks: Any, sender: _Sender, options: ReadOptions) -> None:
    results = sender.results
    while True:
        obj = tasks.get()
        if obj is None:
            return
        reading = read_object(obj, options)
        try:
            for batch in reading.batches():
                sender.send(reading.kind, batch)
            rejects = [(r.object, r.position, r.reason) for r in reading.ctx.rejects]
            results.send(
                (
                    "done",
                    reading.kind,
                    reading.rows,
                    reading.failed,
                    reading.ctx.rejected_count,
                    rejects,
                )
            )
        except _GONE:
            return  # the pool has closed its ends (the scan stopped): nothing left to say
        except Exception as exc:  # a reader bug: the object is reported unreadable, not the run
            try:
                results.send(("error", reading.kind, f"{type(exc).__name__}: {exc}"))
            except _GONE:
                return


#: what a worker's pipes raise once the pool has closed them (reading errors are caught
#: by the reading itself, so these come from the pipes)
_GONE: Final = (EOFError, BrokenPipeError, ConnectionResetError)


_T = TypeVar("_T")


def _place(items: list[_T], i: int, item: _T) -> None:
    """``items[i] = item``, appending when ``i`` is the next index."""
    if i < len(items):
        items[i] = item
    else:
        items.append(item)


class ReaderPool:
    """``workers`` reader processes; :meth:`submit` objects, then :meth:`take` them in order."""

    def __init__(self, workers: int, options: ReadOptions, slot_bytes: int = SLOT_BYTES) -> None:
        self._ctx = processes.context()
        self.options = options
        self._blocks = _reserve(workers, slot_bytes)
        self.slot_bytes = slot_bytes if self._blocks else 0
        self._aws_env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
        self._tasks: list[Any] = []
        self._results: list[Connection] = []
        self._freed: list[Connection] = []
        self._procs: list[BaseProcess] = []
        try:
            for i in range(workers):
                self._start(i)
        except BaseException:
            self.close()
            raise
        self._next = 0
        self._inflight: deque[tuple[SourceObject, int]] = deque()

    def _start(self, i: int) -> None:
        """Start reader ``i`` (again, if it died: with new queue and pipes)."""
        tasks = self._ctx.Queue()
        results, results_end = self._ctx.Pipe(duplex=False)
        freed_end, freed = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_work,
            args=(
                tasks,
                results_end,
                freed_end,
                self._blocks[i].name if self._blocks else None,
                self.slot_bytes,
                self.options,
                self._aws_env,
            ),
            name=f"trailguard-reader-{i}",
            daemon=True,
        )
        _place(self._tasks, i, tasks)
        _place(self._results, i, results)
        _place(self._freed, i, freed)
        _place(self._procs, i, proc)
        try:
            proc.start()
        finally:
            results_end.close()  # the worker holds the writing end of its results
            freed_end.close()  # and the reading end of its freed slots

    def _restart(self, i: int) -> None:
        """Replace dead reader ``i`` and hand the new one the objects queued for the old."""
        old_tasks, old_results, old_freed = self._tasks[i], self._results[i], self._freed[i]
        self._procs[i].join(timeout=1)
        self._start(i)
        for conn in (old_results, old_freed):
            conn.close()
        old_tasks.close()
        old_tasks.cancel_join_thread()
        for obj, worker in self._inflight:
            if worker == i:
                self._tasks[i].put(obj)

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def submit(self, obj: SourceObject) -> None:
        worker = self._next % len(self._procs)
        self._next += 1
        self._tasks[worker].put(obj)
        self._inflight.append((obj, worker))

    def take(self) -> Iterator[tuple[ObjectReading, pa.RecordBatch | None]]:
        """The oldest submitted object: its batches, then ``(reading, None)``.

        The reading carries the worker's tallies (kind, rows, rejects); its own
        ``batches()`` is never called here.
        """
        obj, worker = self._inflight.popleft()
        reading = ObjectReading(obj, self.options)
        while True:
            msg = self._get(worker, obj)
            if msg[0] != "died":  # (batches already handed on keep the kind they came with)
                reading.kind = msg[1]
            if msg[0] == "batch":
                log_type = reading.log_type
                assert log_type is not None
                data = self._receive(worker, slot=msg[2], size=msg[3])
                batch = pa.ipc.read_record_batch(pa.py_buffer(data), SCHEMAS[log_type])
                reading.rows += batch.num_rows
                yield reading, batch
                continue
            if msg[0] == "done":
                _, _, rows, failed, count, rejects = msg
                reading.rows, reading.failed = rows, failed
                reading.ctx.rejects = [Reject(*r) for r in rejects]
                reading.ctx.rejected_count = count
            elif msg[0] == "died":
                # not the object's fault (killed, out of memory...): reported, and read again
                # by the next scan, since no checkpoint is written for it; the objects queued
                # behind it go to a new reader
                reading.failed = reading.retry = True
                reading.ctx.reject("object", f"{msg[2]}; it will be read again by the next scan")
                self._restart(worker)
            else:
                reading.failed = True
                reading.ctx.reject("object", f"internal error while reading: {msg[2]}")
            yield reading, None
            return

    def _receive(self, worker: int, slot: int, size: int) -> bytes:
        """A batch's bytes: copied out of its slot, which goes back to the worker."""
        if slot < 0:
            return self._results[worker].recv_bytes()
        start = slot * self.slot_bytes
        with _view(self._blocks[worker])[start : start + size] as view:
            data = bytes(view)
        with contextlib.suppress(OSError):  # the worker has died: the next message says so
            self._freed[worker].send(slot)
        return data

    def _get(self, worker: int, obj: SourceObject) -> tuple[Any, ...]:
        conn = self._results[worker]
        died = ("died", "unknown", f"reader process died reading {obj.name}")
        while not conn.poll(1.0):
            if not self._procs[worker].is_alive() and not conn.poll(0):
                return died
        try:
            msg: tuple[Any, ...] = conn.recv()
        except EOFError:
            return died
        return msg

    def close(self) -> None:
        for q in self._tasks:
            with contextlib.suppress(ValueError, OSError):  # (a queue closed by a restart)
                q.put(None)
        for conn in [*self._results, *self._freed]:
            conn.close()  # a worker still sending (or waiting for a slot) gets an error and stops
        for p in self._procs:
            if p.pid is None:
                continue  # never started
            p.join(timeout=2)
            if p.is_alive():
                p.terminate()
                p.join(timeout=2)
        for q in self._tasks:
            q.close()
        for block in self._blocks:
            block.close()
            block.unlink()
