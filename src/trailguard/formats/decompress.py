"""Turn an object's stream into decompressed chunks, gzip or plain, with a size cap.

gzip is recognised by its magic bytes, not by the object's name.  Concatenated
gzip members (valid gzip) are all read.  Truncated or corrupt data raises
:class:`DecompressError` naming the compressed byte offset; output past
``limit`` bytes raises it too (a decompression bomb), *before* that output is
held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Final

from isal import isal_zlib

from trailguard.errors import DecompressError

GZIP_MAGIC: Final = b"\x1f\x8b"
READ_SIZE: Final = 1 << 20
_GZIP_WBITS: Final = 16 + isal_zlib.MAX_WBITS
_ZLIB_ERROR: Final[type[Exception]] = isal_zlib.error  # type: ignore[assignment]  # isal stubs say instance


def _check(total: int, limit: int) -> None:
    if total > limit:
        raise DecompressError(
            f"decompressed size exceeds the limit of {limit} bytes (decompression bomb?)",
            f"decompressed byte {limit}",
        )


def iter_chunks(stream: BinaryIO, limit: int, read_size: int = READ_SIZE) -> Iterator[bytes]:
    """Yield the decompressed bytes of ``stream`` in chunks of about ``read_size``."""
    first = stream.read(read_size)
    if not first.startswith(GZIP_MAGIC):
        total = len(first)
        _check(total, limit)
        if first:
            yield first
        while chunk := stream.read(read_size):
            total += len(chunk)
            _check(total, limit)
            yield chunk
        return
    yield from _gunzip(first, stream, limit, read_size)


def _gunzip(first: bytes, stream: BinaryIO, limit: int, read_size: int) -> Iterator[bytes]:
    total = 0
    consumed = 0  # compressed bytes fed so far
    d = isal_zlib.decompressobj(_GZIP_WBITS)
    pending = first
    while True:
        if not pending:
            pending = stream.read(read_size)
            if not pending:
                break
        fed = pending
        pending = b""
        try:
            # cap each call's output so a bomb never materialises in memory
            out = d.decompress(fed, read_size)
            while True:
                if out:
                    total += len(out)
                    _check(total, limit)
                    yield out
                if d.eof:
                    break
                if not d.unconsumed_tail:
                    break
                out = d.decompress(d.unconsumed_tail, read_size)
        except _ZLIB_ERROR as exc:
            raise DecompressError(
                f"corrupt gzip data: {exc}", f"compressed byte {consumed}"
            ) from exc
        if d.eof:
            rest = d.unused_data
            consumed += len(fed) - len(rest)
            # another gzip member may follow (concatenated gzip is valid gzip)
            if not rest:
                rest = stream.read(read_size)
            if not rest:
                return
            if not rest.startswith(GZIP_MAGIC[:1]):
                if rest.strip(b"\x00"):
                    raise DecompressError(
                        "data after the end of the gzip stream", f"compressed byte {consumed}"
                    )
                return
            d = isal_zlib.decompressobj(_GZIP_WBITS)
            pending = rest
        else:
            consumed += len(fed)
    if not d.eof:
        raise DecompressError(
            "truncated gzip data (unexpected end of stream)", f"compressed byte {consumed}"
        )
