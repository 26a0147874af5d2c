"""Sources: where objects come from (local folders, S3).  They know nothing of formats."""

from trailguard.sources.base import Source, SourceObject, open_sources

__all__ = ["Source", "SourceObject", "open_sources"]
