"""Local files and folders (recursively), in sorted path order."""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import BinaryIO

from trailguard.errors import SourceError
from trailguard.sources.base import SourceObject

_SKIP_SUFFIXES = (".meta.json",)


def _open(path: Path) -> BinaryIO:
    return path.open("rb")


class LocalSource:
    """A file, or every regular file under a folder (hidden files skipped)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def objects(self) -> Iterator[SourceObject]:
        if not self.path.exists():
            raise SourceError(f"{self.path}: no such file or directory")
        if self.path.is_file():
            yield self._object(self.path)
            return
        # sorted by the whole relative path, as S3 lists keys
        found: list[tuple[str, Path]] = []
        for root, dirs, files in os.walk(self.path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if not _wanted(name):
                    continue
                p = Path(root) / name
                if p.is_file():
                    found.append((p.relative_to(self.path).as_posix(), p))
        for _, p in sorted(found):
            yield self._object(p)

    @staticmethod
    def _object(path: Path) -> SourceObject:
        st = path.stat()
        return SourceObject(
            name=str(path.resolve()),
            version=f"{st.st_mtime_ns}-{st.st_size}",
            size=st.st_size,
            opener=partial(_open, path),
        )


def _wanted(name: str) -> bool:
    """Whether a file of this name is a log to read (not hidden, not S3 metadata)."""
    return not name.startswith(".") and not name.endswith(_SKIP_SUFFIXES)


def first_file(path: str | os.PathLike[str]) -> SourceObject | None:
    """A cheap guess at the first object of ``LocalSource(path)``: the first file of a
    sorted descent, without listing the whole tree (used to decide what to start before
    the scan; the scan itself lists in :class:`LocalSource`'s exact order)."""
    here = Path(path)
    for _ in range(64):
        if here.is_file():
            return LocalSource._object(here)
        try:
            entries = sorted(e for e in os.listdir(here) if not e.startswith("."))
        except OSError:
            return None
        files = [e for e in entries if _wanted(e) and (here / e).is_file()]
        if files:
            return LocalSource._object(here / files[0])
        dirs = [e for e in entries if (here / e).is_dir()]
        if not dirs:
            return None
        here = here / dirs[0]
    return None
