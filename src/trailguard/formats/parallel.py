"""Read objects in worker processes, streaming their batches back in order.

Decoding JSON holds Python's GIL, so on its own thread it cannot overlap the
detections; in another process it can.  Each worker reads the objects it is
given one after the other and sends each batch back as raw Arrow IPC bytes on a
pipe, whose small buffer makes a worker wait for the reader (so memory stays
bounded by batch size, as in one process).
Objects are handed out round-robin and taken back in the same order, so the
caller sees exactly the sequence a single-process read would give.

Only objects that can be pickled (local files) go to workers; the caller reads
the others itself.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any

import pyarrow as pa

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


def _work(tasks: Any, results: Any, options: ReadOptions) -> None:
    """A worker's loop: read each object it is given, send batches, then the tallies."""
    while True:
        obj = tasks.get()
        if obj is None:
            return
        reading = read_object(obj, options)
        try:
            for batch in reading.batches():
                data = batch.serialize()
                results.send(("batch", reading.kind, data.size))
                # raw bytes, no pickling; the pipe's own buffer bounds what is in flight
                results.send_bytes(memoryview(data).cast("B"))
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
        except Exception as exc:  # a reader bug: the object is reported unreadable, not the run
            results.send(("error", reading.kind, f"{type(exc).__name__}: {exc}"))


class ReaderPool:
    """``workers`` reader processes; :meth:`submit` objects, then :meth:`take` them in order."""

    def __init__(self, workers: int, options: ReadOptions) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.options = options
        self._tasks = [ctx.Queue() for _ in range(workers)]
        pipes = [ctx.Pipe(duplex=False) for _ in range(workers)]
        self._results: list[Connection] = [r for r, _ in pipes]
        self._procs: list[SpawnProcess] = [
            ctx.Process(
                target=_work,
                args=(self._tasks[i], pipes[i][1], options),
                name=f"trailguard-reader-{i}",
                daemon=True,
            )
            for i in range(workers)
        ]
        for p in self._procs:
            p.start()
        for _, w in pipes:
            w.close()  # the workers hold the writing ends
        self._next = 0
        self._inflight: deque[tuple[SourceObject, int]] = deque()

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
            reading.kind = msg[1]
            if msg[0] == "batch":
                log_type = reading.log_type
                assert log_type is not None
                data = self._results[worker].recv_bytes()
                batch = pa.ipc.read_record_batch(pa.py_buffer(data), SCHEMAS[log_type])
                reading.rows += batch.num_rows
                yield reading, batch
                continue
            if msg[0] == "done":
                _, _, rows, failed, count, rejects = msg
                reading.rows, reading.failed = rows, failed
                reading.ctx.rejects = [Reject(*r) for r in rejects]
                reading.ctx.rejected_count = count
            else:
                reading.failed = True
                reading.ctx.reject("object", f"internal error while reading: {msg[2]}")
            yield reading, None
            return

    def _get(self, worker: int, obj: SourceObject) -> tuple[Any, ...]:
        conn = self._results[worker]
        died = ("error", "unknown", f"reader process died reading {obj.name}")
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
            q.put(None)
        for conn in self._results:
            conn.close()  # a worker still sending gets an error and stops
        for p in self._procs:
            p.join(timeout=2)
            if p.is_alive():
                p.terminate()
                p.join(timeout=2)
        for q in self._tasks:
            q.close()
