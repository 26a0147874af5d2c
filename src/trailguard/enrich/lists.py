"""What an intel list is: its spec (where from, how to read it) and its stored state."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

from trailguard.enrich.awsranges import AWS_FORMAT
from trailguard.enrich.listformats import FORMATS
from trailguard.errors import ConfigError

KINDS: Final = ("threat", "trusted", "aws")
#: what a threat list's entries are; the detections that use each are named in the README
CATEGORIES: Final = ("custom", "tor", "mining", "c2")
NAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class ListSpec:
    """What a list is: where it comes from and how to read it."""

    name: str
    location: str
    kind: str = "threat"
    category: str = "custom"
    format: str = "auto"
    csv_column: str | None = None
    feed: bool = False
    refresh_seconds: int | None = None

    def check(self) -> ListSpec:
        if not NAME_PATTERN.fullmatch(self.name):  # match() lets "name\n" through ($)
            raise ConfigError(f"list name {self.name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if self.kind not in KINDS:
            raise ConfigError(f"list {self.name}: kind must be one of {', '.join(KINDS)}")
        category = self.category if self.kind == "threat" else ""
        if self.kind == "threat" and category not in CATEGORIES:
            raise ConfigError(f"list {self.name}: category must be one of {', '.join(CATEGORIES)}")
        fmt = self.format.upper()
        known = (*FORMATS, AWS_FORMAT, "AUTO")
        if fmt not in known:
            raise ConfigError(
                f"list {self.name}: unknown format {self.format!r}; use one of "
                + ", ".join(f.lower() if f == "AUTO" else f for f in known)
            )
        if self.kind == "aws":
            fmt = AWS_FORMAT
        if fmt == "CSV" and not self.csv_column:
            raise ConfigError(f"list {self.name}: format CSV needs a column name (--column)")
        return replace(self, category=category, format=fmt)


@dataclass(frozen=True, slots=True)
class IntelList:
    """One list's description and state (its content: :meth:`IntelStore.data`)."""

    name: str
    kind: str  # threat | trusted | aws
    category: str  # custom | tor | mining | c2 (threat lists); "" otherwise
    format: str
    location: str
    csv_column: str | None
    feed: bool
    refresh_seconds: int | None
    entries: int
    bad_lines: int
    sha256: str
    etag: str | None
    last_modified: str | None
    added_at: int
    refreshed_at: int
    checked_at: int
    last_error: str | None

    def spec(self) -> ListSpec:
        """What this stored list is, as it was added (to re-fetch or re-parse it)."""
        return ListSpec(
            self.name,
            self.location,
            self.kind,
            self.category or "custom",
            self.format,
            self.csv_column,
            self.feed,
            self.refresh_seconds,
        )
