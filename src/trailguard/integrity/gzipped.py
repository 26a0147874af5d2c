"""gzip as CloudTrail's validation sees it: the first member's bytes, and what else is there.

CloudTrail hashes the *decompressed* bytes of a log or digest file.  The AWS CLI hashes
only the first gzip member and ignores anything after it, and it accepts a stream missing
its 8-byte trailer.  Here the first member is hashed the same way, and the rest is
reported: bytes after the first member (often a second member, which ``gzip -dc`` and
most log pipelines *do* read), a stream cut short, or data that is not gzip at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from isal import isal_zlib

from trailguard.errors import DecompressError

GZIP_MAGIC: Final = b"\x1f\x8b"
#: the largest decompressed digest file accepted (a digest lists one line per log file)
MAX_DIGEST_BYTES: Final = 256 * 1024 * 1024
_WBITS_GZIP: Final = 31
_OUT_CHUNK: Final = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Gunzipped:
    """What one pass over a gzip stream found.

    ``sha256`` is the lower-case hex SHA-256 of the first member's decompressed bytes (as
    far as they go); ``error`` is set when the data is not a valid gzip stream (then
    ``sha256`` is meaningless).  ``truncated``: the first member ends before its trailer.
    ``extra``: bytes after the first member; ``extra_is_gzip``: they start a gzip member.
    """

    sha256: str
    compressed: int
    decompressed: int
    error: str | None = None
    truncated: bool = False
    extra: int = 0
    extra_is_gzip: bool = False

    @property
    def complete(self) -> bool:
        return self.error is None and not self.truncated

    def describe_extra(self) -> str:
        what = "another gzip member" if self.extra_is_gzip else "data that is not gzip"
        return f"{self.extra:,} bytes after the first gzip member ({what})"


class _FirstMember:
    """Feeds chunks through a decompressor until the first member ends."""

    def __init__(self, keep: bool, limit: int | None) -> None:
        self._d = isal_zlib.decompressobj(_WBITS_GZIP)
        self._hash = hashlib.sha256()
        self._keep: list[bytes] | None = [] if keep else None
        self._limit = limit
        self.compressed = 0
        self.decompressed = 0
        self.extra = 0
        self.extra_head = b""
        self.head = b""
        self.error: str | None = None

    def feed(self, chunk: bytes | memoryview) -> None:
        self.compressed += len(chunk)
        if self.error is not None:
            return
        if len(self.head) < 2:
            self.head = (self.head + bytes(chunk[:2]))[:2]
            if not GZIP_MAGIC.startswith(self.head):
                self.error = "not gzip (no gzip header)"
                return
        if self._d.eof:
            self._note_extra(bytes(chunk[:2]), len(chunk))
            return
        try:
            self._take(self._d.decompress(chunk, _OUT_CHUNK))
            while not self._d.eof and self._d.unconsumed_tail:
                self._take(self._d.decompress(self._d.unconsumed_tail, _OUT_CHUNK))
        except isal_zlib.error as exc:  # type: ignore[misc]
            self.error = f"not a valid gzip stream ({exc})"
            return
        except DecompressError as exc:
            self.error = str(exc)
            return
        if self._d.eof and self._d.unused_data:
            self._note_extra(self._d.unused_data[:2], len(self._d.unused_data))

    def _note_extra(self, head: bytes, n: int) -> None:
        if not self.extra:
            self.extra_head = head
        elif len(self.extra_head) < 2:
            self.extra_head = (self.extra_head + head)[:2]
        self.extra += n

    def _take(self, out: bytes) -> None:
        self.decompressed += len(out)
        if self._limit is not None and self.decompressed > self._limit:
            raise DecompressError(f"decompresses to more than {self._limit:,} bytes")
        self._hash.update(out)
        if self._keep is not None:
            self._keep.append(out)

    def result(self) -> Gunzipped:
        # an empty object is no error here: it hashes as empty, a mismatch (as the CLI says)
        error = self.error
        return Gunzipped(
            sha256=self._hash.hexdigest(),
            compressed=self.compressed,
            decompressed=self.decompressed,
            error=error,
            truncated=error is None and self.compressed > 0 and not self._d.eof,
            extra=self.extra,
            extra_is_gzip=self.extra_head == GZIP_MAGIC,
        )

    def data(self) -> bytes:
        return b"".join(self._keep or [])


def hash_chunks(chunks: Iterable[bytes | memoryview]) -> Gunzipped:
    """Hash the first gzip member of a stream given as chunks (memory: one chunk)."""
    state = _FirstMember(keep=False, limit=None)
    for chunk in chunks:
        state.feed(chunk)
    return state.result()


def gunzip_digest(data: bytes) -> tuple[Gunzipped, bytes]:
    """The first member of a digest file, decompressed, with what one pass found."""
    state = _FirstMember(keep=True, limit=MAX_DIGEST_BYTES)
    state.feed(data)
    return state.result(), state.data()


#: what :func:`hash_files` returns for a file it could not open: ("missing" or "unreadable", text)
FileError = tuple[str, str]


def hash_files(paths: list[str]) -> list[Gunzipped | FileError]:
    """Hash the first gzip member of each file (a batch, run in a worker process)."""
    out: list[Gunzipped | FileError] = []
    for path in paths:
        try:
            with open(path, "rb", buffering=0) as fh:
                data = fh.read()
        except FileNotFoundError:
            out.append(("missing", ""))
            continue
        except OSError as exc:
            out.append(("unreadable", f"{path}: cannot read: {exc.strerror or exc}"))
            continue
        state = _FirstMember(keep=False, limit=None)
        state.feed(data)
        out.append(state.result())
    return out
