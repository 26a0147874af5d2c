"""Managed feeds: the ``[feeds.NAME]`` tables of the config file, checked at the boundary.

```toml
[feeds.tor-exits]
url = "https://check.torproject.org/torbulkexitlist"
format = "TXT"
kind = "threat"        # threat | trusted | aws
category = "tor"       # custom | tor | mining | c2 (threat lists)
refresh = "1h"         # 30m, 6h, 1d or seconds; default 24h
```
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trailguard import settings
from trailguard.enrich.lists import ListSpec
from trailguard.errors import ConfigError

DEFAULT_REFRESH_SECONDS: Final = 24 * 3600
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION: Final = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")


def parse_duration(value: str | int) -> int:
    """Seconds, from ``90``, ``"90s"``, ``"30m"``, ``"6h"`` or ``"1d"`` (at least 60)."""
    if isinstance(value, bool):
        raise ValueError("a duration like 30m, 6h or 1d")
    if isinstance(value, int):
        seconds = value
    elif not isinstance(value, str):  # a TOML float or date: a TypeError would escape pydantic
        raise ValueError(f"{value!r} is not a duration like 30m, 6h or 1d")
    else:
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"{value!r} is not a duration like 30m, 6h or 1d")
        seconds = int(m.group(1)) * _UNITS[m.group(2) or "s"]
    if seconds < 60:
        raise ValueError("refresh at most once a minute")
    return seconds


class FeedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1)
    format: str = "auto"
    kind: str = "threat"
    category: str = "custom"
    column: str | None = None
    refresh: int = DEFAULT_REFRESH_SECONDS

    @field_validator("refresh", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int:
        return parse_duration(value)


def load_feeds(path: Path | None = None) -> list[ListSpec]:
    """The configured feeds as list specs (ConfigError names the file and the feed)."""
    where, table = settings.load_section("feeds", path)
    specs = []
    for name, raw in table.items():
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: feeds.{name} must be a table (url = ..., format = ...)")
        try:
            feed = FeedConfig.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{where}: feeds.{name}: {problems}") from None
        location = feed.url
        if (
            where is not None
            and "://" not in location
            and not Path(location).expanduser().is_absolute()
        ):
            # a file named in the config is found beside the config, wherever it is run from
            location = str(where.parent / location)
        spec = ListSpec(
            name=name,
            location=location,
            kind=feed.kind,
            category=feed.category,
            format=feed.format,
            csv_column=feed.column,
            feed=True,
            refresh_seconds=feed.refresh,
        )
        try:
            specs.append(spec.check())
        except ConfigError as exc:
            raise ConfigError(f"{where}: feeds.{name}: {exc}") from None
    return specs
