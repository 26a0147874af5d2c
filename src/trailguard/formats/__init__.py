"""Formats: an object's bytes -> Arrow record batches of one normalised schema.

:func:`read_object` sniffs the content, picks the reader, and returns an
:class:`ObjectReading` whose :meth:`~ObjectReading.batches` yields record batches
while bad records (and, if it comes to that, the unreadable rest of the object)
are collected as :class:`~trailguard.formats.base.Reject` values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, BinaryIO, Protocol

from trailguard.errors import FormatError, SourceError
from trailguard.formats.base import ReadContext, ReadOptions, Reject
from trailguard.formats.decompress import iter_chunks
from trailguard.formats.sniff import SNIFF_BYTES, Kind, sniff
from trailguard.sources.base import SourceObject

if TYPE_CHECKING:  # (pyarrow comes with the readers: a look at an object needs none of it)
    import pyarrow as pa

    from trailguard.formats.schema import LogType

__all__ = ["ObjectReading", "ReadOptions", "Reader", "Reject", "read_object"]


class Reader(Protocol):
    """Reads one log type.  Bad records go to ``ctx.reject``; a fatal problem raises
    :class:`FormatError` (batches already yielded stay valid)."""

    def read(self, chunks: Iterator[bytes], ctx: ReadContext) -> Iterator[pa.RecordBatch]: ...


def _reader(kind: LogType) -> Reader:
    if kind == "cloudtrail":
        from trailguard.formats.cloudtrail import CloudTrailReader

        return CloudTrailReader()
    if kind == "vpcflow":
        from trailguard.formats.vpcflow import FlowLogReader

        return FlowLogReader()
    from trailguard.formats.dns import ResolverQueryReader

    return ResolverQueryReader()


@dataclass(slots=True)
class ObjectReading:
    """The reading of one object.  Iterate :meth:`batches` once; then read the tallies."""

    object: SourceObject
    options: ReadOptions
    kind: Kind = "unknown"
    rows: int = 0
    failed: bool = False
    #: failed for a reason outside the object (a reader process died): not checkpointed
    retry: bool = False
    ctx: ReadContext = field(init=False)

    def __post_init__(self) -> None:
        self.ctx = ReadContext(self.object.name, self.options)

    @property
    def log_type(self) -> LogType | None:
        kind = self.kind
        if kind == "cloudtrail" or kind == "vpcflow" or kind == "dns":
            return kind
        return None

    @property
    def rejects(self) -> list[Reject]:
        return self.ctx.rejects

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            stream = self.object.open()
        except (OSError, SourceError) as exc:
            self._fail("object", f"cannot open: {exc}")
            return
        try:
            with stream:
                yield from self._read(stream)
        except FormatError as exc:
            self._fail(exc.position or "object", exc.reason)
        except (OSError, SourceError) as exc:
            self._fail("object", f"read error: {exc}")

    def _read(self, stream: BinaryIO) -> Iterator[pa.RecordBatch]:
        chunks = iter_chunks(stream, self.options.max_decompressed_bytes)
        head = b""
        taken: list[bytes] = []
        for chunk in chunks:
            taken.append(chunk)
            head += chunk[: SNIFF_BYTES - len(head)]
            if len(head) >= SNIFF_BYTES:
                break
        self.kind = sniff(head)
        if self.kind == "empty":
            self._fail("object", "empty object")
            return
        if self.kind == "unknown":
            self._fail("byte 0", "unknown format: not CloudTrail, VPC flow or Resolver query logs")
            return
        if self.kind in ("digest", "insight"):
            for _ in chunks:  # drain, so decompression errors are still noticed
                pass
            return
        log_type = self.log_type
        assert log_type is not None
        reader = _reader(log_type)
        for batch in reader.read(chain(taken, chunks), self.ctx):
            self.rows += batch.num_rows
            yield batch

    def _fail(self, position: str, reason: str) -> None:
        self.failed = True
        self.ctx.reject(position, reason)


def read_object(obj: SourceObject, options: ReadOptions | None = None) -> ObjectReading:
    """Start reading ``obj``: iterate ``.batches()``, then read ``.rejects``, ``.kind``..."""
    return ObjectReading(obj, options or ReadOptions())


def peek_kind(obj: SourceObject, options: ReadOptions | None = None) -> Kind:
    """What ``obj`` holds, from its first bytes (``unknown`` if it cannot be read).

    A cheap look for scheduling only; :func:`read_object` sniffs again and reports
    any problem properly.
    """
    limit = (options or ReadOptions()).max_decompressed_bytes
    try:
        with obj.open() as stream:
            head = b""
            for chunk in iter_chunks(stream, limit, read_size=SNIFF_BYTES):
                head += chunk
                if len(head) >= SNIFF_BYTES:
                    break
    except (OSError, SourceError, FormatError):
        return "unknown"
    return sniff(head[:SNIFF_BYTES])
