"""A source yields objects: a name, a version tag and a way to open the bytes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True, slots=True)
class SourceObject:
    """One object to read: a local file or an S3 object.

    ``name`` identifies it (a path, or ``s3://bucket/key``); ``version`` changes
    when its content does (S3 ETag, or mtime and size of a file).  The pair is
    the checkpoint key: an object already committed with the same version is
    skipped.
    """

    name: str
    version: str
    size: int
    opener: Callable[[], BinaryIO]

    def open(self) -> BinaryIO:
        return self.opener()


class Source(Protocol):
    """Lists objects in a stable, sorted order."""

    def objects(self) -> Iterator[SourceObject]: ...


def open_sources(locations: Iterable[str], *, endpoint_url: str | None = None) -> list[Source]:
    """Build one source per location: ``s3://bucket/prefix`` or a local path."""
    from trailguard.sources.local import LocalSource

    sources: list[Source] = []
    for loc in locations:
        if loc.startswith("s3://"):
            from trailguard.sources.s3 import S3Source

            sources.append(S3Source.from_url(loc, endpoint_url=endpoint_url))
        else:
            sources.append(LocalSource(loc))
    return sources
